"""Tests for filter and If/Then conditions: validation, typed operators and explanations."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.engine.conditions import (
    OPERATORS,
    TYPES,
    VALUELESS_OPERATORS,
    ConditionError,
    evaluate,
    explain,
    validate_conditions,
)

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=8,
)
OPERANDS = SCALARS | st.sampled_from(["1 234,5", "01.03.2025", "2025-04-01", "да", "ok", "a,b"])


def one(field: str, op: str, value: Any = None, **options: Any) -> dict[str, Any]:
    """Build a spec holding a single condition."""
    return {"any": [{"all": [{"field": field, "op": op, "value": value, **options}]}]}


def item(**source: Any) -> dict[str, Any]:
    """Build a render context around a source item."""
    return {"source": source, "steps": {}}


def check(actual: Any, op: str, value: Any = None, **options: Any) -> bool:
    """Evaluate one condition on the source field "x" holding actual."""
    return evaluate(one("x", op, value, **options), item(x=actual))


# --- the seed scenario --------------------------------------------------------------------


@pytest.mark.parametrize(("result", "expected"), [(0, True), (1, False), ("0", True)])
def test_failed_update_step_is_detected(result: Any, expected: bool) -> None:
    spec = one("steps.update.result", "equals", 0, type="result")
    context = {"source": {}, "steps": {"update": {"result": result, "errors": ""}}}
    assert evaluate(spec, context) is expected


# --- groups -------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [None, {}, {"any": []}, {"any": None}, {"any": [{"all": []}]}])
def test_empty_specs_pass(spec: Any) -> None:
    assert evaluate(spec, item()) is True


def test_or_of_and_groups() -> None:
    spec = {
        "any": [
            {"all": [{"field": "a", "op": "equals", "value": 1}, {"field": "b", "op": "exists"}]},
            {"all": [{"field": "c", "op": "equals", "value": "yes"}]},
        ]
    }
    assert evaluate(spec, item(a=1, b=None)) is True
    assert evaluate(spec, item(a=1)) is False
    assert evaluate(spec, item(a=2, c="yes")) is True
    assert evaluate(spec, item(a=2, c="no")) is False


def test_empty_group_passes_alongside_others() -> None:
    spec = {"any": [{"all": [{"field": "a", "op": "exists"}]}, {"all": []}]}
    assert evaluate(spec, item()) is True


# --- fields and values --------------------------------------------------------------------


def test_field_written_as_a_template() -> None:
    context = {"source": {}, "steps": {"b1": {"result": 1}}}
    assert evaluate(one("{{ steps.b1.result }}", "equals", 1), context) is True
    assert evaluate(one("{{steps.b2.result}}", "exists"), context) is False


def test_field_rendered_from_several_variables() -> None:
    spec = one("{{first}} {{last}}", "equals", "Anna Ivanova")
    assert evaluate(spec, item(first="Anna", last="Ivanova")) is True
    assert evaluate(one("{{first}} {{last}}", "exists"), item(first="Anna")) is False


def test_value_can_compare_two_fields() -> None:
    spec = one("paid", "gte", "{{total}}", type="number")
    assert evaluate(spec, item(paid="1 500", total=1200)) is True
    assert evaluate(spec, item(paid="1 000", total=1200)) is False


def test_cyrillic_keys_and_list_indexes() -> None:
    spec = one("source.Заказ.позиции.1.название", "equals", "чай", case_insensitive=True)
    assert evaluate(spec, item(Заказ={"позиции": [{"название": "кофе"}, {"название": "Чай"}]}))


# --- equals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "value", "options", "expected"),
    [
        ("5", 5, {}, True),
        ("5,0", 5, {}, True),
        ("0.30", 0.3, {}, True),
        ("abc", "abc", {}, True),
        ("ABC", "abc", {}, False),
        ("ABC", "abc", {"case_insensitive": True}, True),
        ("Straße", "STRASSE", {"case_insensitive": True}, True),
        (True, "true", {}, True),
        (None, "", {}, True),
        ("007", "7", {}, True),
        ("007", "7", {"type": "string"}, False),
        ("5", "5.0", {"type": "string"}, False),
        ("1 234,5", 1234.5, {"type": "number"}, True),
        ("abc", "abc", {"type": "number"}, False),
        ("01.03.2025", "2025-03-01", {"type": "date"}, True),
        ("01.03.2025 10:30", "2025-03-01T13:30:00+03:00", {"type": "date"}, True),
        (1740787200, "2025-03-01", {"type": "date"}, True),
        ("да", True, {"type": "boolean"}, True),
        ("No", 0, {"type": "boolean"}, True),
        ("maybe", False, {"type": "boolean"}, False),
        ("success", 1, {"type": "result"}, True),
        ("error", "failure", {"type": "result"}, True),
        ("OK", True, {"type": "result"}, True),
        (2, 1, {"type": "result"}, False),
    ],
)
def test_equals(actual: Any, value: Any, options: dict[str, Any], expected: bool) -> None:
    assert check(actual, "equals", value, **options) is expected
    assert check(actual, "not_equals", value, **options) is not expected


def test_missing_field_is_not_equal_to_a_value() -> None:
    assert check(None, "equals", 0) is False
    assert evaluate(one("nope", "equals", 0), item()) is False
    assert evaluate(one("nope", "not_equals", 0), item()) is True


# --- text operators -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "op", "value", "options", "expected"),
    [
        ("Hello world", "contains", "lo w", {}, True),
        ("Hello world", "contains", "WORLD", {}, False),
        ("Hello world", "contains", "WORLD", {"case_insensitive": True}, True),
        (["vip", "new"], "contains", "vip", {}, True),
        (["vip", "new"], "contains", "VIP", {"case_insensitive": True}, True),
        ([1, 2], "contains", "2", {}, True),
        (["vip"], "contains", "vi", {}, False),
        ("Hello world", "not_contains", "bye", {}, True),
        ("Привет, мир", "starts_with", "привет", {"case_insensitive": True}, True),
        ("Привет, мир", "starts_with", "привет", {}, False),
        ("report.PDF", "ends_with", ".pdf", {"case_insensitive": True}, True),
        ("report.pdf", "ends_with", ".doc", {}, False),
        (12345, "starts_with", "12", {}, True),
        ("+7 900 123-45-67", "matches", r"^\+7[\d\s-]+$", {}, True),
        ("ORDER-17", "matches", r"order-\d+", {}, False),
        ("ORDER-17", "matches", r"order-\d+", {"case_insensitive": True}, True),
    ],
)
def test_text_operators(
    actual: Any, op: str, value: Any, options: dict[str, Any], expected: bool
) -> None:
    assert check(actual, op, value, **options) is expected


def test_templated_regex_is_rendered_and_a_broken_one_fails_quietly() -> None:
    assert evaluate(one("code", "matches", "^{{prefix}}-"), item(code="AB-1", prefix="AB"))
    assert evaluate(one("code", "matches", "^{{prefix}}"), item(code="AB", prefix="(")) is False


# --- emptiness and existence --------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "   \n", [], {}])
def test_is_empty(value: Any) -> None:
    assert check(value, "is_empty") is True
    assert check(value, "is_not_empty") is False


@pytest.mark.parametrize("value", [0, False, " x ", [None], {"a": 1}])
def test_is_not_empty(value: Any) -> None:
    assert check(value, "is_not_empty") is True


def test_missing_field_is_empty_but_does_not_exist() -> None:
    assert evaluate(one("nope", "is_empty"), item()) is True
    assert evaluate(one("nope", "exists"), item()) is False
    assert evaluate(one("nope", "not_exists"), item()) is True


def test_present_none_exists() -> None:
    assert check(None, "exists") is True
    assert check("", "not_exists") is False


# --- orderings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "op", "value", "options", "expected"),
    [
        ("1 234,5", "gt", 1000, {}, True),
        ("1 234,5", "gt", 1000, {"type": "number"}, True),
        ("1,234.50", "gte", "1234.5", {"type": "number"}, True),
        ("1.234,50", "lte", 1234.5, {"type": "number"}, True),
        ("1\u00a0000", "lt", 999, {"type": "number"}, False),
        ("-5", "lt", "-4,5", {}, True),
        ("1e3", "gte", 1000, {"type": "number"}, True),
        ("abc", "gt", 1, {"type": "number"}, False),
        ("abc", "lte", 1, {"type": "number"}, False),
        ("10", "gt", "9", {}, True),
        ("10", "gt", "9", {"type": "string"}, False),
        ("b", "gt", "a", {}, True),
        ("B", "gt", "a", {"case_insensitive": True}, True),
        ("01.03.2025", "lt", "2025-04-01", {"type": "date"}, True),
        ("01.03.2025", "lt", "2025-04-01", {}, True),
        ("2025-03-01T12:00:00+03:00", "lt", "01.03.2025 10:00", {"type": "date"}, True),
        ("31.02.2025", "lt", "2025-04-01", {"type": "date"}, False),
        (1735689600, "gte", "2025-01-01", {"type": "date"}, True),
        ("1735689600", "lt", "2025-01-02", {"type": "date"}, True),
        (date(2025, 1, 1), "lt", datetime(2025, 1, 1, 0, 1), {"type": "date"}, True),
        ("yesterday", "lt", "2025-01-01", {"type": "date"}, False),
        (True, "gt", "нет", {"type": "boolean"}, True),
        (None, "lt", 5, {}, False),
        (None, "gte", 5, {}, False),
    ],
)
def test_orderings(
    actual: Any, op: str, value: Any, options: dict[str, Any], expected: bool
) -> None:
    assert check(actual, op, value, **options) is expected


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2), st.integers())
def test_formatted_numbers_compare_numerically(amount: Decimal, threshold: int) -> None:
    formatted = f"{amount:,.2f}".replace(",", " ").replace(".", ",")
    assert check(formatted, "gt", threshold, type="number") is (amount > threshold)
    assert check(formatted, "lte", threshold, type="number") is (amount <= threshold)


@given(st.datetimes(min_value=datetime(1971, 1, 1)), st.datetimes(min_value=datetime(1971, 1, 1)))
def test_dates_in_different_notations_compare_in_time(first: datetime, second: datetime) -> None:
    first = first.replace(second=0, microsecond=0)  # the dotted notation stops at minutes
    dotted = first.strftime("%d.%m.%Y %H:%M")
    iso = second.replace(tzinfo=UTC).isoformat()
    assert check(dotted, "lt", iso, type="date") is (first < second)


# --- in / not_in --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "value", "options", "expected"),
    [
        ("new", ["new", "open"], {}, True),
        ("closed", ["new", "open"], {}, False),
        ("open", "new, open ,won", {}, True),
        ("OPEN", "new,open", {"case_insensitive": True}, True),
        (2, "1,2,3", {}, True),
        ("2", [1, 2, 3], {"type": "number"}, True),
        ("", "", {}, False),
        ("x", None, {}, False),
        (5, 5, {}, True),
    ],
)
def test_in(actual: Any, value: Any, options: dict[str, Any], expected: bool) -> None:
    assert check(actual, "in", value, **options) is expected
    assert check(actual, "not_in", value, **options) is not expected


def test_in_a_list_taken_from_another_field() -> None:
    spec = one("status", "in", "{{allowed}}")
    assert evaluate(spec, item(status="won", allowed=["won", "lost"])) is True


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([], "must be an object"),
        ({"all": []}, "must be an object"),
        ({"any": {"all": []}}, '"any" must be a list'),
        ({"any": ["x"]}, "Group 1 must be an object"),
        ({"any": [{"all": "x"}]}, 'Group 1: "all" must be a list'),
        ({"any": [{"all": [], "any": []}]}, "Group 1 must be an object"),
        ({"any": [{"all": [{"field": "a", "op": "exists"}, 5]}]}, "Group 1, condition 2"),
        (one("", "exists"), "choose a field"),
        (one("a..b", "exists"), "choose a field"),
        (one("{{}}", "exists"), "choose a field"),
        (one("a", "like"), "unknown operator 'like'"),
        (one("a", ["equals"]), "unknown operator"),
        (one("a", "equals", 1, type="money"), "unknown type 'money'"),
        (one("a", "equals", 1, case_insensitive="yes"), "case_insensitive"),
        (one("a", "matches", "(unclosed"), "invalid regular expression"),
        (one("a", "matches", 5), "must be text"),
    ],
)
def test_invalid_specs_are_refused(spec: Any, message: str) -> None:
    with pytest.raises(ConditionError, match=message):
        validate_conditions(spec)


def test_second_group_is_named_in_errors() -> None:
    spec = {"any": [{"all": []}, {"all": [{"field": "a", "op": "exists"}, {"field": "b"}]}]}
    with pytest.raises(ConditionError, match="Group 2, condition 2: unknown operator None"):
        validate_conditions(spec)


def test_evaluate_refuses_invalid_regex() -> None:
    with pytest.raises(ConditionError, match="invalid regular expression"):
        check("x", "matches", "[a-")


def test_valid_specs_pass_validation() -> None:
    validate_conditions({})
    validate_conditions(one("steps.update.result", "equals", 0, type="result"))
    validate_conditions(one("{{a}}", "matches", "^{{prefix}}(", case_insensitive=True))
    validate_conditions(one("a", "is_empty", type=None))


def test_vocabularies_are_consistent() -> None:
    assert VALUELESS_OPERATORS.issubset(OPERATORS)
    assert "auto" in TYPES
    assert all(isinstance(label, str) and label for label in OPERATORS.values())


# --- explain ------------------------------------------------------------------------------


def test_explain_reports_every_condition() -> None:
    spec = {
        "any": [
            {
                "all": [
                    {"field": "steps.update.result", "op": "equals", "value": 0, "type": "result"}
                ]
            },
            {"all": [{"field": "name", "op": "starts_with", "value": "{{prefix}}"}]},
        ]
    }
    context = {"source": {"name": "Anna", "prefix": "An"}, "steps": {"update": {"result": 1}}}
    assert explain(spec, context) == [
        {
            "group": 1,
            "condition": 1,
            "field": "steps.update.result",
            "op": "equals",
            "type": "result",
            "expected": 0,
            "actual": 1,
            "found": True,
            "passed": False,
        },
        {
            "group": 2,
            "condition": 1,
            "field": "name",
            "op": "starts_with",
            "type": "auto",
            "expected": "An",
            "actual": "Anna",
            "found": True,
            "passed": True,
        },
    ]


def test_explain_of_nothing_is_empty() -> None:
    assert explain(None, item()) == []


# --- properties ---------------------------------------------------------------------------


@given(OPERANDS, OPERANDS, st.sampled_from(sorted(TYPES)), st.booleans())
def test_not_equals_is_the_negation_of_equals(
    actual: Any, value: Any, kind: str, case_insensitive: bool
) -> None:
    options = {"type": kind, "case_insensitive": case_insensitive}
    assert check(actual, "not_equals", value, **options) is not check(
        actual, "equals", value, **options
    )


@given(OPERANDS, st.lists(OPERANDS, max_size=4) | st.text(), st.sampled_from(sorted(TYPES)))
def test_not_in_is_the_negation_of_in(actual: Any, value: Any, kind: str) -> None:
    assert check(actual, "not_in", value, type=kind) is not check(actual, "in", value, type=kind)


@given(st.one_of(st.just({}), st.dictionaries(st.just("x"), JSON_VALUES, min_size=1)))
def test_existence_and_emptiness_pairs_are_complements(source: dict[str, Any]) -> None:
    context = {"source": source}
    for positive, negative in (("exists", "not_exists"), ("is_empty", "is_not_empty")):
        assert evaluate(one("x", negative), context) is not evaluate(one("x", positive), context)


@given(st.integers(), st.integers())
def test_integer_orderings_agree_with_python(left: int, right: int) -> None:
    for op, expected in (("gt", left > right), ("gte", left >= right), ("lt", left < right)):
        assert check(str(left), op, right) is expected
        assert check(left, op, str(right), type="number") is expected


@given(JSON_VALUES, OPERANDS, st.sampled_from(sorted(OPERATORS)), st.sampled_from(sorted(TYPES)))
def test_evaluation_never_raises_on_valid_specs(
    actual: Any, value: Any, op: str, kind: str
) -> None:
    if op == "matches":
        value = "^a"
    assert isinstance(check(actual, op, value, type=kind), bool)
