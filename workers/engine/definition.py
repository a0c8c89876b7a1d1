"""The bundle definition (format 1): validation, normalisation and a walk over its blocks.

A definition is what a BundleVersion stores::

    {"format": 1, "source": {...}, "blocks": [receiver | filter | logic, ...]}

docs/bundle-format.md describes every key. This module is pure: it never touches Flask or the
database; callers pass ``connection_service`` to check the connections a definition names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from connectors.base import AuthKind, Connector, Operation
from connectors.registry import get_connector
from workers.engine.conditions import ConditionError, validate_conditions
from workers.engine.mapping import variables_in

FORMAT_VERSION = 1
SOURCE_KINDS = ("webhook", "polling", "schedule", "manual")
BLOCK_KINDS = ("receiver", "filter", "logic")
BRANCHES = ("then", "else")
MAX_DEPTH = 8  # top-level blocks are level 1
MAX_BLOCKS = 200
DEFAULT_WINDOW_MINUTES = 1440
MAX_WINDOW_MINUTES = 43200  # 30 days

SOURCE_KEYS = ("kind", "params", "backfill", "idempotency", "idempotency_window_minutes")
POLLING_KEYS = ("service", "connection", "trigger")
BLOCK_KEYS = {
    "receiver": ("id", "kind", "title", "service", "connection", "action", "params"),
    "filter": ("id", "kind", "title", "conditions"),
    "logic": ("id", "kind", "comment", "conditions", "then", "else"),
}

# fullmatch, not "$": "$" would also accept an id followed by a newline.
BLOCK_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_PATH_TOKEN = re.compile(r"([a-z]+)\[(\d+)\]")

ConnectionService = Callable[[int], str | None]


class DefinitionError(ValueError):
    """A definition that cannot be saved; `path` points at the offending part."""

    def __init__(self, path: str, problem: str) -> None:
        # Both go to args, so the error survives pickling (RQ moves errors between processes).
        super().__init__(path, problem)
        self.path = path
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}" if self.path else self.problem


def validate_definition(
    definition: Mapping[str, Any], *, connection_service: ConnectionService | None = None
) -> dict[str, Any]:
    """Check a definition and return a normalised copy, or raise DefinitionError."""
    root = _object(definition, "", "A bundle definition")
    _check_format(root)
    _refuse_unknown_keys(root, ("format", "source", "blocks"), "")
    if "source" not in root:
        raise DefinitionError("source", "missing: every bundle starts with a source")
    checker = _Checker(connection_service)
    source = checker.source(root["source"], "source")
    blocks = checker.blocks(root.get("blocks", []), "blocks", depth=1)
    _check_references(source, blocks)
    return {"format": FORMAT_VERSION, "source": source, "blocks": blocks}


def iter_blocks(blocks: Iterable[Any], path: str = "blocks") -> Iterator[tuple[str, dict]]:
    """Yield (path, block) for every block, depth-first in execution order."""
    # Tolerant of malformed parts, so an unvalidated import file can be walked too.
    for index, block in enumerate(blocks):
        if not isinstance(block, Mapping):
            continue
        block_path = f"{path}[{index}]"
        yield block_path, block
        if block.get("kind") == "logic":
            for branch in BRANCHES:
                nested = block.get(branch)
                if isinstance(nested, list):
                    yield from iter_blocks(nested, f"{block_path}.{branch}")


def connection_slots(definition: Mapping[str, Any]) -> Iterator[tuple[str, dict]]:
    """Yield (path, object) for the source and every receiver: the places a connection sits."""
    source = definition.get("source")
    if isinstance(source, Mapping):
        yield "source", source
    blocks = definition.get("blocks")
    for path, block in iter_blocks(blocks if isinstance(blocks, list) else []):
        if block.get("kind") == "receiver":
            yield path, block


def connection_ids(definition: Mapping[str, Any]) -> set[int]:
    """Return the ids of every connection the source and the receivers use."""
    values = (holder.get("connection") for _, holder in connection_slots(definition))
    return {value for value in values if isinstance(value, int) and not isinstance(value, bool)}


def empty_definition(kind: str = "webhook") -> dict[str, Any]:
    """Return a valid definition with a source of `kind` and no blocks."""
    if kind not in SOURCE_KINDS or kind == "polling":
        # A polling source is only valid once its service, connection and trigger are chosen.
        raise ValueError(f"No empty definition for a {kind!r} source")
    return validate_definition({"format": FORMAT_VERSION, "source": {"kind": kind}})


# --- structure ----------------------------------------------------------------------------


class _Checker:
    """Validate and normalise the source and the block tree, collecting ids on the way."""

    def __init__(self, connection_service: ConnectionService | None) -> None:
        self.connection_service = connection_service
        self.block_paths: dict[str, str] = {}

    def source(self, raw: Any, path: str) -> dict[str, Any]:
        source = _object(raw, path, "The source")
        kind = _choice(source, "kind", SOURCE_KINDS, path)
        self._refuse_source_keys(source, kind, path)
        normalised: dict[str, Any] = {"kind": kind}
        params = _params(source, path)
        if kind == "polling":
            operation, slot = self._polling_trigger(source, path)
            normalised.update(slot)
            _check_required_inputs(operation, params, _join(path, "params"))
        elif params:
            raise DefinitionError(_join(path, "params"), "only a polling source takes params")
        normalised["params"] = params
        normalised["backfill"] = _backfill(source, kind, path)
        normalised["idempotency"] = _idempotency(source.get("idempotency"), kind, path)
        normalised["idempotency_window_minutes"] = _window(source, path)
        return normalised

    def blocks(self, raw: Any, path: str, depth: int) -> list[dict[str, Any]]:
        if not isinstance(raw, list):
            raise DefinitionError(path, "must be a list of blocks")
        return [self.block(item, f"{path}[{index}]", depth) for index, item in enumerate(raw)]

    def block(self, raw: Any, path: str, depth: int) -> dict[str, Any]:
        block = _object(raw, path, "A block")
        if depth > MAX_DEPTH:
            raise DefinitionError(path, f"blocks nest at most {MAX_DEPTH} levels deep")
        if len(self.block_paths) >= MAX_BLOCKS:
            raise DefinitionError(path, f"a bundle holds at most {MAX_BLOCKS} blocks in all")
        kind = _choice(block, "kind", BLOCK_KINDS, path)
        _refuse_unknown_keys(block, BLOCK_KEYS[kind], path)
        head = {"id": self._block_id(block, path), "kind": kind}
        if kind == "receiver":
            return head | self._receiver(block, path)
        if kind == "filter":
            return head | {
                "title": _text(block, "title", path),
                "conditions": _conditions(block, path),
            }
        return head | self._logic(block, path, depth)

    def _refuse_source_keys(self, source: Mapping[str, Any], kind: str, path: str) -> None:
        if kind == "polling":
            _refuse_unknown_keys(source, SOURCE_KEYS + POLLING_KEYS, path)
            return
        for key in source:
            if key in POLLING_KEYS:
                raise DefinitionError(
                    _join(path, key), f"a {kind} source takes no {key}; only a polling one does"
                )
        _refuse_unknown_keys(source, SOURCE_KEYS, path)

    def _polling_trigger(
        self, source: Mapping[str, Any], path: str
    ) -> tuple[Operation, dict[str, Any]]:
        service = _required_text(source, "service", path)
        connector = _connector(service, _join(path, "service"))
        key = _required_text(source, "trigger", path)
        operation = _operation(connector, connector.triggers, key, "trigger", path)
        if operation.push:
            raise DefinitionError(
                _join(path, "trigger"),
                f"{operation.label!r} receives webhooks and cannot be polled; "
                "use a webhook source instead",
            )
        connection = self._connection(source, connector, path)
        return operation, {"service": service, "connection": connection, "trigger": key}

    def _receiver(self, block: Mapping[str, Any], path: str) -> dict[str, Any]:
        title = _text(block, "title", path)
        service = _required_text(block, "service", path)
        connector = _connector(service, _join(path, "service"))
        key = _required_text(block, "action", path)
        operation = _operation(connector, connector.actions, key, "action", path)
        params = _params(block, path)
        _check_required_inputs(operation, params, _join(path, "params"))
        return {
            "title": title,
            "service": service,
            "connection": self._connection(block, connector, path),
            "action": key,
            "params": params,
        }

    def _logic(self, block: Mapping[str, Any], path: str, depth: int) -> dict[str, Any]:
        normalised = {
            "comment": _text(block, "comment", path),
            "conditions": _conditions(block, path),
        }
        for branch in BRANCHES:
            normalised[branch] = self.blocks(block.get(branch, []), _join(path, branch), depth + 1)
        return normalised

    def _block_id(self, block: Mapping[str, Any], path: str) -> str:
        where = _join(path, "id")
        block_id = block.get("id")
        if not isinstance(block_id, str) or not BLOCK_ID.fullmatch(block_id):
            raise DefinitionError(
                where,
                f"{block_id!r} is not a valid id: start with a letter, then up to 63 letters, "
                "digits, '_' or '-'",
            )
        if block_id in self.block_paths:
            raise DefinitionError(
                where, f"the id {block_id!r} is already used by {self.block_paths[block_id]}"
            )
        self.block_paths[block_id] = path
        return block_id

    def _connection(
        self, holder: Mapping[str, Any], connector: type[Connector], path: str
    ) -> int | None:
        where = _join(path, "connection")
        value = holder.get("connection")
        if value is None:
            if connector.auth_kind == AuthKind.NONE:
                return None
            raise DefinitionError(where, f"choose a {connector.name} connection")
        if isinstance(value, bool) or not isinstance(value, int):
            raise DefinitionError(where, f"must be a connection id (a whole number), not {value!r}")
        if self.connection_service is not None:
            _check_connection_service(value, self.connection_service(value), connector, where)
        return value


def _check_connection_service(
    connection_id: int, service: str | None, connector: type[Connector], where: str
) -> None:
    if service is None:
        raise DefinitionError(where, f"connection {connection_id} does not exist in this workspace")
    if service != connector.key:
        raise DefinitionError(
            where,
            f"connection {connection_id} is a {service} connection; "
            f"{connector.name} needs a {connector.key} one",
        )


def _check_format(root: Mapping[str, Any]) -> None:
    if "format" not in root:
        raise DefinitionError("format", "missing: this is not a svyazka bundle definition")
    version = root["format"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DefinitionError("format", f"unknown format {version!r}")
    if version > FORMAT_VERSION:
        raise DefinitionError(
            "format",
            f"format {version} was made by a newer svyazka; this one reads format "
            f"{FORMAT_VERSION}: upgrade svyazka",
        )


def _connector(service: str, where: str) -> type[Connector]:
    try:
        return get_connector(service)
    except KeyError:
        raise DefinitionError(where, f"unknown service {service!r}") from None


def _operation(
    connector: type[Connector],
    table: Mapping[str, Operation],
    key: str,
    kind: str,
    path: str,
) -> Operation:
    if key in table:
        return table[key]
    choices = ", ".join(sorted(table)) or "none"
    raise DefinitionError(
        _join(path, kind), f"{connector.name} has no {kind} {key!r} (it has: {choices})"
    )


def _check_required_inputs(operation: Operation, params: Mapping[str, Any], path: str) -> None:
    for field in operation.inputs:
        value = params.get(field.name)
        if value is None and field.default is not None:
            continue  # the connector fills its declared default at run time
        if field.required and _is_blank(value):
            raise DefinitionError(
                _join(path, field.name), f"{field.label} is required by {operation.label!r}"
            )


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, Mapping | list) and not value


def _conditions(block: Mapping[str, Any], path: str) -> dict[str, Any]:
    where = _join(path, "conditions")
    if "conditions" not in block:
        raise DefinitionError(where, 'missing: give conditions as {"any": [{"all": [...]}]}')
    spec = block["conditions"]
    # validate_conditions accepts None (no conditions); a definition spells that {"any": []}.
    if not isinstance(spec, Mapping):
        raise DefinitionError(where, 'must be an object with an "any" list of groups')
    try:
        validate_conditions(spec)
    except ConditionError as error:
        raise DefinitionError(where, str(error)) from None
    return _plain(spec)


def _backfill(source: Mapping[str, Any], kind: str, path: str) -> bool:
    where = _join(path, "backfill")
    backfill = source.get("backfill", False)
    if not isinstance(backfill, bool):
        raise DefinitionError(where, "must be true or false")
    if backfill and kind != "polling":
        raise DefinitionError(where, "only a polling source can backfill existing items")
    return backfill


def _idempotency(value: Any, kind: str, path: str) -> dict[str, str] | None:
    where = _join(path, "idempotency")
    if value is None:
        return None
    if not isinstance(value, Mapping) or len(value) != 1 or set(value) - {"header", "path"}:
        raise DefinitionError(
            where, 'use null, {"header": "Idempotency-Key"} or {"path": "order.id"}'
        )
    key, text = next(iter(value.items()))
    where = _join(where, key)
    if not isinstance(text, str) or not text.strip():
        raise DefinitionError(where, "must be non-empty text")
    text = text.strip()
    if key == "header":
        if kind != "webhook":
            raise DefinitionError(where, "only a webhook source has request headers; use a path")
        if not HEADER_NAME.fullmatch(text):
            raise DefinitionError(where, f"{text!r} is not a valid header name")
    elif "{" in text or "}" in text or not all(text.split(".")):
        raise DefinitionError(where, f"{text!r} is not a dotted path such as order.id")
    return {key: text}


def _window(source: Mapping[str, Any], path: str) -> int:
    minutes = source.get("idempotency_window_minutes", DEFAULT_WINDOW_MINUTES)
    valid = isinstance(minutes, int) and not isinstance(minutes, bool)
    if not valid or not 1 <= minutes <= MAX_WINDOW_MINUTES:
        raise DefinitionError(
            _join(path, "idempotency_window_minutes"),
            f"must be a whole number of minutes from 1 to {MAX_WINDOW_MINUTES}, not {minutes!r}",
        )
    return minutes


# --- small readers ------------------------------------------------------------------------


def _object(value: Any, path: str, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise DefinitionError(path, f"{what} must be a JSON object, not {type(value).__name__}")
    return value


def _refuse_unknown_keys(value: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> None:
    for key in value:
        if key not in allowed:
            raise DefinitionError(
                _join(path, str(key)), f"unknown key; expected one of: {', '.join(allowed)}"
            )


def _choice(value: Mapping[str, Any], key: str, choices: tuple[str, ...], path: str) -> str:
    chosen = value.get(key)
    if chosen not in choices:
        raise DefinitionError(_join(path, key), f"{chosen!r} is not one of: {', '.join(choices)}")
    return chosen


def _required_text(value: Mapping[str, Any], key: str, path: str) -> str:
    text = value.get(key)
    if not isinstance(text, str) or not text:
        raise DefinitionError(_join(path, key), "missing: choose one")
    return text


def _text(value: Mapping[str, Any], key: str, path: str) -> str:
    text = value.get(key, "")
    if not isinstance(text, str):
        raise DefinitionError(_join(path, key), "must be text")
    return text


def _params(value: Mapping[str, Any], path: str) -> dict[str, Any]:
    params = value.get("params", {})
    if not isinstance(params, Mapping):
        raise DefinitionError(_join(path, "params"), "must be an object of input values")
    return _plain(params)


def _plain(value: Any) -> Any:
    """Copy nested mappings and sequences into plain dicts and lists, as JSON stores them."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --- references to earlier steps ----------------------------------------------------------


def _check_references(source: Mapping[str, Any], blocks: list[dict[str, Any]]) -> None:
    block_paths = {block["id"]: path for path, block in iter_blocks(blocks)}
    # Trigger params are read before any block runs, so no step is visible there.
    source_strings = _strings_in(source["params"], "source.params")
    _check_strings(source_strings, "source", frozenset(), block_paths)
    _check_branch(blocks, "blocks", frozenset(), block_paths)


def _check_branch(
    blocks: list[dict[str, Any]], path: str, visible: frozenset[str], block_paths: dict[str, str]
) -> None:
    for index, block in enumerate(blocks):
        block_path = f"{path}[{index}]"
        _check_strings(_block_strings(block, block_path), block_path, visible, block_paths)
        # A logic block records its result before its branch runs, so the branch may read it.
        visible = visible | {block["id"]}
        if block["kind"] == "logic":
            for branch in BRANCHES:
                _check_branch(block[branch], f"{block_path}.{branch}", visible, block_paths)
            # Blocks inside may or may not have run; later blocks may still check them (a
            # missing output reads as empty), as the seed's "if creating failed" alert does.
            nested = block["then"] + block["else"]
            visible = visible | {inner["id"] for _, inner in iter_blocks(nested)}


def _block_strings(block: Mapping[str, Any], path: str) -> Iterator[tuple[str, str]]:
    if block["kind"] == "receiver":
        yield from _strings_in(block["params"], f"{path}.params")
        return
    for group_index, group in enumerate(block["conditions"].get("any") or []):
        for index, condition in enumerate(group.get("all") or []):
            where = f"{path}.conditions.any[{group_index}].all[{index}]"
            field = condition["field"]
            # A bare field ("steps.b1.result") is a path; wrap it so it parses like a template.
            yield f"{where}.field", field if "{{" in field else "{{" + field + "}}"
            yield from _strings_in(condition.get("value"), f"{where}.value")


def _strings_in(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings_in(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings_in(item, f"{path}[{index}]")


def _check_strings(
    strings: Iterable[tuple[str, str]],
    block_path: str,
    visible: frozenset[str],
    block_paths: dict[str, str],
) -> None:
    for where, text in strings:
        for variable in variables_in(text):
            segments = variable.split(".")
            if segments[0] != "steps" or len(segments) < 2 or segments[1] in visible:
                continue
            reason = _unreachable(segments[1], block_paths.get(segments[1]), block_path)
            raise DefinitionError(where, f"{{{{{variable}}}}} cannot be used here: {reason}")


def _unreachable(step_id: str, target: str | None, block_path: str) -> str:
    """Explain why the step `step_id` (at path `target`) has not run before `block_path`."""
    if target is None:
        return f"no block has the id {step_id!r}"
    if block_path == "source":
        return "the source runs before every block"
    here, there = _PATH_TOKEN.findall(block_path), _PATH_TOKEN.findall(target)
    shared = 0
    while shared < min(len(here), len(there)) and here[shared] == there[shared]:
        shared += 1
    if shared == len(there):  # an enclosing logic block would be visible: this is the block
        return "a block cannot use its own output"
    if shared == len(here):
        return f"{step_id!r} sits inside this block and runs after it"
    (branch_here, index_here), (branch_there, index_there) = here[shared], there[shared]
    if branch_here != branch_there:
        return f"{step_id!r} is in the other branch of the same logic block ({target})"
    if int(index_there) > int(index_here):
        return f"{step_id!r} runs after this block ({target}); move it earlier"
    logic_path = ".".join(f"{name}[{index}]" for name, index in there[: shared + 1])
    return f"{step_id!r} sits inside the logic block at {logic_path} and may not have run"
