"""Conditions for filter and If/Then blocks: an OR of AND groups of typed comparisons.

Shape: ``{"any": [{"all": [{"field": "steps.b1.result", "op": "equals", "value": 0,
"type": "auto", "case_insensitive": false}, ...]}, ...]}``.

``field`` is a mapping path (``steps.b1.result`` or ``{{steps.b1.result}}``; a longer
template such as ``{{first}} {{last}}`` is rendered to text). ``value`` may hold templates
too, so two fields can be compared.

Semantics worth knowing:

* Negated operators (``not_equals``, ``not_contains``, ``not_in``, ``is_not_empty``,
  ``not_exists``) are the exact negation of their positive twin.
* A value that cannot be read as the chosen type (``"abc"`` as a number) makes ``equals``
  and the orderings (``gt``, ``lte``...) false; it is never an error.
* Orderings are false when either side is missing or ``None``.
* ``in`` accepts a list or a comma-separated string; ``"1,5"`` therefore means 1 or 5.
* A condition whose field is a list passes ``contains`` when any item equals the value.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

from workers.engine.mapping import render, resolve_path, to_text, variables_in

OPERATORS: dict[str, str] = {
    "equals": "equals",
    "not_equals": "does not equal",
    "contains": "contains",
    "not_contains": "does not contain",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "matches": "matches the regular expression",
    "is_empty": "is empty",
    "is_not_empty": "is not empty",
    "exists": "exists",
    "not_exists": "does not exist",
    "gt": "is greater than",
    "gte": "is greater than or equal to",
    "lt": "is less than",
    "lte": "is less than or equal to",
    "in": "is one of",
    "not_in": "is not one of",
}

TYPES: dict[str, str] = {
    "auto": "automatic",
    "string": "text",
    "number": "number",
    "date": "date",
    "boolean": "yes/no",
    "result": "step result (success/failure)",
}

VALUELESS_OPERATORS = frozenset({"is_empty", "is_not_empty", "exists", "not_exists"})

_NEGATED = {
    "not_equals": "equals",
    "not_contains": "contains",
    "is_not_empty": "is_empty",
    "not_exists": "exists",
    "not_in": "in",
}
_ORDERINGS: dict[str, Callable[[int, int], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DOTTED_DATE = re.compile(
    r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})(?:[ T]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?)?"
)


class ConditionError(ValueError):
    """A condition definition that cannot be evaluated; the message is for people."""


class _Condition(NamedTuple):
    field: str
    op: str
    value: Any
    kind: str
    case_insensitive: bool


class _Operands(NamedTuple):
    actual: Any
    expected: Any
    found: bool
    kind: str
    case_insensitive: bool


def validate_conditions(spec: Mapping[str, Any]) -> None:
    """Raise ConditionError naming the first group or condition that is malformed."""
    for group_number, group in enumerate(_read_groups(spec), 1):
        for number, raw in enumerate(group, 1):
            _read_condition(raw, _where(group_number, number))


def evaluate(spec: Mapping[str, Any] | None, context: Mapping[str, Any]) -> bool:
    """Tell whether the context satisfies any group of the conditions (no groups: yes)."""
    groups = _read_groups(spec)
    if not groups:
        return True
    return any(
        _group_passes(group, group_number, context) for group_number, group in enumerate(groups, 1)
    )


def explain(spec: Mapping[str, Any] | None, context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Evaluate every condition and report field, operator, expected, actual and verdict."""
    report = []
    for group_number, group in enumerate(_read_groups(spec), 1):
        for number, raw in enumerate(group, 1):
            condition = _read_condition(raw, _where(group_number, number))
            operands = _operands(condition, context)
            report.append(
                {
                    "group": group_number,
                    "condition": number,
                    "field": condition.field,
                    "op": condition.op,
                    "type": condition.kind,
                    "expected": operands.expected,
                    "actual": operands.actual,
                    "found": operands.found,
                    "passed": _passes(condition.op, operands),
                }
            )
    return report


def _group_passes(group: Sequence[Any], group_number: int, context: Mapping[str, Any]) -> bool:
    for number, raw in enumerate(group, 1):
        condition = _read_condition(raw, _where(group_number, number))
        if not _passes(condition.op, _operands(condition, context)):
            return False
    return True


def _where(group_number: int, number: int) -> str:
    return f"Group {group_number}, condition {number}"


def _read_groups(spec: Mapping[str, Any] | None) -> list[Sequence[Any]]:
    # Unknown keys are refused: a filter written as a bare {"all": [...]} would otherwise
    # have no groups and silently let every item through.
    if spec is None:
        return []
    if not isinstance(spec, Mapping) or set(spec) - {"any"}:
        raise ConditionError('Conditions must be an object with an "any" list of groups.')
    groups = spec.get("any") or []
    if not isinstance(groups, list | tuple):
        raise ConditionError('"any" must be a list of condition groups.')
    return [_read_group(group, number) for number, group in enumerate(groups, 1)]


def _read_group(group: Any, number: int) -> Sequence[Any]:
    if not isinstance(group, Mapping) or set(group) - {"all"}:
        raise ConditionError(f'Group {number} must be an object with an "all" list of conditions.')
    conditions = group.get("all") or []
    if not isinstance(conditions, list | tuple):
        raise ConditionError(f'Group {number}: "all" must be a list of conditions.')
    return conditions


def _read_condition(raw: Any, where: str) -> _Condition:
    if not isinstance(raw, Mapping):
        raise ConditionError(f"{where} must be an object.")
    field = raw.get("field")
    if not isinstance(field, str) or not _is_field(field):
        raise ConditionError(f"{where}: choose a field to check (got {field!r}).")
    op = raw.get("op")
    if not isinstance(op, str) or op not in OPERATORS:
        raise ConditionError(f"{where}: unknown operator {op!r}.")
    kind = raw.get("type") or "auto"
    if not isinstance(kind, str) or kind not in TYPES:
        raise ConditionError(f"{where}: unknown type {kind!r}.")
    case_insensitive = raw.get("case_insensitive", False)
    if not isinstance(case_insensitive, bool):
        raise ConditionError(f'{where}: "case_insensitive" must be true or false.')
    value = raw.get("value")
    if op == "matches":
        _check_pattern(value, case_insensitive, where)
    return _Condition(field, op, value, kind, case_insensitive)


def _is_field(field: str) -> bool:
    if "{{" in field:
        return bool(variables_in(field))
    return all(field.strip().split("."))


def _check_pattern(pattern: Any, case_insensitive: bool, where: str) -> None:
    if not isinstance(pattern, str):
        raise ConditionError(f"{where}: the regular expression must be text.")
    if variables_in(pattern):
        return  # only known once the templates are rendered; a bad result simply fails
    try:
        _compile(pattern, case_insensitive)
    except re.error as error:
        raise ConditionError(f"{where}: invalid regular expression ({error}).") from error


@lru_cache(maxsize=1024)
def _compile(pattern: str, case_insensitive: bool) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE if case_insensitive else 0)


def _operands(condition: _Condition, context: Mapping[str, Any]) -> _Operands:
    found, actual = _field_value(condition.field, context)
    expected = render(condition.value, context).value
    return _Operands(actual, expected, found, condition.kind, condition.case_insensitive)


def _field_value(field: str, context: Mapping[str, Any]) -> tuple[bool, Any]:
    if "{{" in field:
        rendered = render(field, context)
        return not rendered.missing, rendered.value
    return resolve_path(field.strip(), context)


def _passes(op: str, operands: _Operands) -> bool:
    if op in _NEGATED:
        return not _passes(_NEGATED[op], operands)
    if op in _ORDERINGS:
        sign = _compare(operands.actual, operands.expected, operands)
        return sign is not None and _ORDERINGS[op](sign, 0)
    return _POSITIVE_TESTS[op](operands)


def _equals(operands: _Operands) -> bool:
    return _equal(operands.actual, operands.expected, operands)


def _contains(operands: _Operands) -> bool:
    if isinstance(operands.actual, list | tuple):
        return any(_equal(item, operands.expected, operands) for item in operands.actual)
    return _text(operands.expected, operands) in _text(operands.actual, operands)


def _starts_with(operands: _Operands) -> bool:
    return _text(operands.actual, operands).startswith(_text(operands.expected, operands))


def _ends_with(operands: _Operands) -> bool:
    return _text(operands.actual, operands).endswith(_text(operands.expected, operands))


def _matches(operands: _Operands) -> bool:
    try:
        pattern = _compile(to_text(operands.expected), operands.case_insensitive)
    except re.error:
        return False  # a templated pattern rendered into an invalid expression
    return pattern.search(to_text(operands.actual)) is not None


def _is_empty(operands: _Operands) -> bool:
    value = operands.actual
    if not operands.found or value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, Mapping | list | tuple) and not value


def _exists(operands: _Operands) -> bool:
    return operands.found


def _is_one_of(operands: _Operands) -> bool:
    return any(_equal(operands.actual, option, operands) for option in _options(operands.expected))


_POSITIVE_TESTS: dict[str, Callable[[_Operands], bool]] = {
    "equals": _equals,
    "contains": _contains,
    "starts_with": _starts_with,
    "ends_with": _ends_with,
    "matches": _matches,
    "is_empty": _is_empty,
    "exists": _exists,
    "in": _is_one_of,
}


def _options(expected: Any) -> list[Any]:
    if isinstance(expected, list | tuple):
        return list(expected)
    if isinstance(expected, str):
        return [option.strip() for option in expected.split(",") if option.strip()]
    return [] if expected is None else [expected]


def _text(value: Any, operands: _Operands) -> str:
    text = to_text(value)
    return text.casefold() if operands.case_insensitive else text


def _equal(left: Any, right: Any, operands: _Operands) -> bool:
    if operands.kind == "string":
        return _text(left, operands) == _text(right, operands)
    if operands.kind == "auto":
        left_number, right_number = _as_number(left), _as_number(right)
        if left_number is not None and right_number is not None:
            return left_number == right_number
        return _text(left, operands) == _text(right, operands)
    parse = _PARSERS[operands.kind]
    left_parsed, right_parsed = parse(left), parse(right)
    return left_parsed is not None and left_parsed == right_parsed


def _compare(left: Any, right: Any, operands: _Operands) -> int | None:
    if left is None or right is None:
        return None
    if operands.kind == "string":
        return _sign(_text(left, operands), _text(right, operands))
    if operands.kind == "auto":
        for parse in (_as_number, _as_date):
            left_parsed, right_parsed = parse(left), parse(right)
            if left_parsed is not None and right_parsed is not None:
                return _sign(left_parsed, right_parsed)
        return _sign(_text(left, operands), _text(right, operands))
    parse = _PARSERS[operands.kind]
    left_parsed, right_parsed = parse(left), parse(right)
    if left_parsed is None or right_parsed is None:
        return None
    return _sign(left_parsed, right_parsed)


def _sign(left: Any, right: Any) -> int:
    return (left > right) - (left < right)


def _as_number(value: Any) -> Decimal | None:
    # Decimal keeps "0.30" equal to 0.3 and large integers exact.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str):
        text = _normalise_number_text(value)
        return Decimal(text) if _NUMBER.fullmatch(text) else None
    return None


def _normalise_number_text(text: str) -> str:
    compact = "".join(text.split())  # "1 234,5" with ordinary or non-breaking spaces
    if "," in compact and "." in compact:
        # Whichever separator comes last is the decimal one; the other groups thousands.
        grouping = "," if compact.rfind(",") < compact.rfind(".") else "."
        compact = compact.replace(grouping, "")
    if compact.count(",") == 1:
        return compact.replace(",", ".")
    return compact.replace(",", "")


def _as_date(value: Any) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float):
        return _from_epoch(value)
    if isinstance(value, str):
        return _date_from_text(value.strip())
    return None


def _date_from_text(text: str) -> datetime | None:
    if _INTEGER.fullmatch(text):
        return _from_epoch(int(text))
    dotted = _DOTTED_DATE.fullmatch(text)
    if dotted:
        return _from_dotted(dotted)
    try:
        return _aware(datetime.fromisoformat(text))
    except ValueError:
        return None


def _from_dotted(match: re.Match[str]) -> datetime | None:
    day, month, year, hour, minute, second = (int(part or 0) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None  # 31.02.2025 and the like


def _from_epoch(seconds: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _aware(moment: datetime) -> datetime:
    # Naive values carry no zone; treating them as UTC keeps every comparison well-defined.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _word_parser(
    true_words: frozenset[str], false_words: frozenset[str]
) -> Callable[[Any], bool | None]:
    def parse(value: Any) -> bool | None:
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            word = value.strip().casefold()
            if word in true_words:
                return True
            if word in false_words:
                return False
        return None

    return parse


_as_boolean = _word_parser(
    frozenset({"true", "1", "yes", "да"}), frozenset({"false", "0", "no", "нет"})
)
_as_result = _word_parser(
    frozenset({"true", "1", "success", "ok"}), frozenset({"false", "0", "failure", "error"})
)

_PARSERS: dict[str, Callable[[Any], Any]] = {
    "number": _as_number,
    "date": _as_date,
    "boolean": _as_boolean,
    "result": _as_result,
}
