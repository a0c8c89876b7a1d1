"""The mapping language: ``{{path}}`` templates that carry data between bundle blocks.

A render context looks like ``{"source": {...item...}, "steps": {"<block id>": {...}},
"bundle": {"id": .., "name": ..}, "run": {"id": ..}}``.
A path whose first segment is one of those roots is looked up in the context itself;
any other path is looked up in the source item, so ``{{contact.phone}}`` is a shorthand for
``{{source.contact.phone}}``.

Rendering rules:

* A string that is exactly one variable (``"{{ items.0 }}"``) becomes the referenced value
  with its own type, or ``None`` when the path is missing.
* Otherwise variables are rendered into text with ``to_text``: ``None`` -> ``""``,
  booleans -> ``"true"``/``"false"``, numbers via ``str()`` (so ``2.0`` stays ``"2.0"``),
  lists and dicts -> compact JSON, strings as they are.
* Braces that do not form a valid ``{{path}}`` stay literal text.
* Missing paths render as empty text and are reported in ``RenderResult.missing``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any, NamedTuple

CONTEXT_ROOTS = frozenset({"source", "steps", "bundle", "run"})
FLATTEN_MAX_DEPTH = 6
FLATTEN_MAX_FIELDS = 500

# The inner text may hold anything except braces; dots inside it separate the segments.
_VARIABLE = re.compile(r"\{\{([^{}]*)\}\}")
_CHARACTERS_NOT_IN_KEYS = frozenset(".{}")


class RenderResult(NamedTuple):
    """A rendered template and the paths that could not be resolved."""

    value: Any
    missing: tuple[str, ...]


class _Variable(NamedTuple):
    path: str
    segments: tuple[str, ...]


class _ParsedTemplate(NamedTuple):
    parts: tuple[str | _Variable, ...]
    whole_variable: _Variable | None


def render(template: Any, context: Mapping[str, Any]) -> RenderResult:
    """Render a template string, or every string inside a nested structure."""
    missing: list[str] = []
    value = _render_value(template, context, missing)
    return RenderResult(value, tuple(dict.fromkeys(missing)))


def resolve_path(path: str, context: Mapping[str, Any]) -> tuple[bool, Any]:
    """Look a dotted path up in a render context and return (found, value)."""
    segments = _split_path(path)
    if not segments:
        return False, None
    return _resolve(segments, context)


def variables_in(template: Any) -> list[str]:
    """List the paths a template (or nested structure of templates) refers to."""
    paths: dict[str, None] = {}
    for text in _strings_in(template):
        for part in _parse(text).parts:
            if isinstance(part, _Variable):
                paths[part.path] = None
    return list(paths)


def flatten_fields(data: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten a sample into dotted paths and their leaf values for the mapping picker."""
    fields: dict[str, Any] = {}
    _flatten_into(fields, data, prefix, depth=0)
    return fields


def to_text(value: Any) -> str:
    """Return the text a value takes when rendered inside a longer string."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_fallback)
    return str(value)


def _json_fallback(value: Any) -> Any:
    # Contexts built in Python may hold read-only mappings, dates or decimals.
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def _render_value(template: Any, context: Mapping[str, Any], missing: list[str]) -> Any:
    if isinstance(template, str):
        return _render_string(template, context, missing)
    if isinstance(template, Mapping):
        return {key: _render_value(item, context, missing) for key, item in template.items()}
    if isinstance(template, list | tuple):
        return [_render_value(item, context, missing) for item in template]
    return template


def _render_string(template: str, context: Mapping[str, Any], missing: list[str]) -> Any:
    # Most strings in a bundle are plain text; skip parsing (and the cache) for them.
    if "{{" not in template:
        return template
    parsed = _parse(template)
    if parsed.whole_variable is not None:
        return _lookup(parsed.whole_variable, context, missing)
    return "".join(
        part if isinstance(part, str) else to_text(_lookup(part, context, missing))
        for part in parsed.parts
    )


def _lookup(variable: _Variable, context: Mapping[str, Any], missing: list[str]) -> Any:
    found, value = _resolve(variable.segments, context)
    if not found:
        missing.append(variable.path)
    return value


def _resolve(segments: tuple[str, ...], context: Mapping[str, Any]) -> tuple[bool, Any]:
    node: Any = context if segments[0] in CONTEXT_ROOTS else context.get("source")
    for segment in segments:
        found, node = _step_into(node, segment)
        if not found:
            return False, None
    return True, node


def _step_into(node: Any, segment: str) -> tuple[bool, Any]:
    if isinstance(node, Mapping):
        if segment in node:
            return True, node[segment]
        return False, None
    if isinstance(node, list | tuple) and segment.isascii() and segment.isdigit():
        index = int(segment)
        if index < len(node):
            return True, node[index]
    return False, None


@lru_cache(maxsize=4096)
def _parse(template: str) -> _ParsedTemplate:
    # Cached because the engine renders the same templates for every item of a run.
    parts: list[str | _Variable] = []
    position = 0
    for match in _VARIABLE.finditer(template):
        variable = _variable_from(match.group(1))
        if variable is None:
            continue  # "{{}}" or "{{a..b}}" is not a path: it stays in the literal text
        if match.start() > position:
            parts.append(template[position : match.start()])
        parts.append(variable)
        position = match.end()
    if position < len(template):
        parts.append(template[position:])
    whole = parts[0] if len(parts) == 1 and isinstance(parts[0], _Variable) else None
    return _ParsedTemplate(tuple(parts), whole)


def _variable_from(inner: str) -> _Variable | None:
    path = inner.strip()
    segments = _split_path(path)
    return _Variable(path, segments) if segments else None


@lru_cache(maxsize=4096)
def _split_path(path: str) -> tuple[str, ...]:
    segments = tuple(path.split("."))
    return segments if all(segments) else ()


def _strings_in(template: Any) -> Iterator[str]:
    if isinstance(template, str):
        yield template
    elif isinstance(template, Mapping):
        for item in template.values():
            yield from _strings_in(item)
    elif isinstance(template, list | tuple):
        for item in template:
            yield from _strings_in(item)


def _flatten_into(fields: dict[str, Any], node: Any, path: str, depth: int) -> None:
    children = _children(node)
    if depth >= FLATTEN_MAX_DEPTH or not children:
        if path:
            fields[path] = node
        return
    for key, child in children:
        if len(fields) >= FLATTEN_MAX_FIELDS:
            return
        _flatten_into(fields, child, f"{path}.{key}" if path else key, depth + 1)


def _children(node: Any) -> list[tuple[str, Any]]:
    if isinstance(node, Mapping):
        return [(key, child) for key, child in node.items() if _is_addressable_key(key)]
    if isinstance(node, list | tuple):
        return [(str(index), child) for index, child in enumerate(node)]
    return []


def _is_addressable_key(key: Any) -> bool:
    # A key with a dot or a brace cannot be written in a path, so the picker cannot offer it.
    return isinstance(key, str) and bool(key) and not _CHARACTERS_NOT_IN_KEYS.intersection(key)
