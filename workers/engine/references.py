"""Which blocks a definition's conditions look at: a failure they check is handled."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from workers.engine import mapping


def checked_block_ids(blocks: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """Return ids of blocks whose outputs some filter or logic condition reads."""
    return _checked_ids(json.dumps(list(blocks), sort_keys=True, default=str))


@lru_cache(maxsize=256)
def _checked_ids(blocks_json: str) -> frozenset[str]:
    found: set[str] = set()
    for block in _walk(json.loads(blocks_json)):
        if block.get("kind") in ("filter", "logic"):
            for group in (block.get("conditions") or {}).get("any", []):
                for condition in group.get("all", []):
                    found.update(_step_ids(condition))
    return frozenset(found)


def _walk(blocks: Iterable[Mapping[str, Any]]):
    for block in blocks:
        yield block
        yield from _walk(block.get("then", []))
        yield from _walk(block.get("else", []))


def _step_ids(condition: Mapping[str, Any]) -> set[str]:
    """Return the block ids a condition's field or value refers to via steps.<id>."""
    texts = [str(condition.get("field", "")), json.dumps(condition.get("value"), default=str)]
    paths = [path for text in texts for path in mapping.variables_in(text)]
    field_path = str(condition.get("field", "")).strip()
    if "{{" not in field_path:
        paths.append(field_path)
    ids = set()
    for path in paths:
        segments = path.split(".")
        if len(segments) >= 2 and segments[0] == "steps":
            ids.add(segments[1])
    return ids
