"""Tests for the mapping language: template rendering, paths and field flattening."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.engine.mapping import (
    CONTEXT_ROOTS,
    FLATTEN_MAX_DEPTH,
    FLATTEN_MAX_FIELDS,
    RenderResult,
    flatten_fields,
    render,
    resolve_path,
    to_text,
    variables_in,
)

CONTEXT: dict[str, Any] = {
    "source": {
        "contact": {"name": "Anna", "variables": {"phone": "+79001234567"}},
        "Имя клиента": "Мария",
        "order-id": "A-17",
        "items": [{"id": 11, "price": 2.5}, {"id": 12, "price": 3}],
        "codes": {"0": "zero-key"},
        "paid": True,
        "note": None,
        "tags": ["a", "b"],
    },
    "steps": {"update": {"result": 1, "errors": "", "deal": {"id": 501}}},
}

KEYS = st.text(min_size=1, max_size=8).filter(lambda key: not set(key) & set(".{}"))
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=20,
)
PLAIN_TEXT = st.text().filter(lambda text: "{" not in text and "}" not in text)


# --- resolve_path -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("source.contact.name", "Anna"),
        ("contact.variables.phone", "+79001234567"),
        ("steps.update.result", 1),
        ("steps.update.deal.id", 501),
        ("items.1.id", 12),
        ("source.items.0.price", 2.5),
        ("Имя клиента", "Мария"),
        ("order-id", "A-17"),
        ("codes.0", "zero-key"),
        ("note", None),
    ],
)
def test_resolve_path_finds_values(path: str, expected: Any) -> None:
    assert resolve_path(path, CONTEXT) == (True, expected)


@pytest.mark.parametrize(
    "path",
    [
        "contact.email",
        "items.5.id",
        "items.-1.id",
        "items.first",
        "contact.name.first",
        "steps.missing.result",
        "",
        "contact..name",
        ".contact",
    ],
)
def test_resolve_path_reports_missing(path: str) -> None:
    assert resolve_path(path, CONTEXT) == (False, None)


def test_resolve_path_without_source_in_context() -> None:
    assert resolve_path("contact.name", {"steps": {}}) == (False, None)


def test_resolve_path_does_not_index_strings() -> None:
    assert resolve_path("order-id.0", CONTEXT) == (False, None)


# --- render: single variable --------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{steps.update.result}}", 1),
        ("{{ items.0.price }}", 2.5),
        ("{{paid}}", True),
        ("{{note}}", None),
        ("{{tags}}", ["a", "b"]),
        ("{{steps.update.deal}}", {"id": 501}),
        ("{{ source.Имя клиента }}", "Мария"),
    ],
)
def test_exact_variable_keeps_its_type(template: str, expected: Any) -> None:
    assert render(template, CONTEXT) == RenderResult(expected, ())


def test_exact_missing_variable_is_none_and_recorded() -> None:
    assert render("{{contact.email}}", CONTEXT) == RenderResult(None, ("contact.email",))


def test_variable_with_surrounding_text_is_not_exact() -> None:
    assert render(" {{steps.update.result}}", CONTEXT).value == " 1"


# --- render: text -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hello, {{contact.name}}!", "Hello, Anna!"),
        ("Клиент: {{Имя клиента}}", "Клиент: Мария"),
        ("{{items.0.id}}-{{items.1.id}}", "11-12"),
        ("paid={{paid}}", "paid=true"),
        ("note=[{{note}}]", "note=[]"),
        ("price {{items.0.price}} / {{items.1.price}}", "price 2.5 / 3"),
        ("tags {{tags}}", 'tags ["a","b"]'),
        ("deal {{steps.update.deal}}", 'deal {"id":501}'),
    ],
)
def test_variables_render_into_text(template: str, expected: str) -> None:
    assert render(template, CONTEXT) == RenderResult(expected, ())


@pytest.mark.parametrize(
    "template",
    ["{ contact.name }", "{{contact.name", "contact.name}}", "{{}}", "{{ }}", "{{a..b}}", "a { b"],
)
def test_broken_braces_stay_literal(template: str) -> None:
    assert render(template, CONTEXT) == RenderResult(template, ())


def test_braces_around_a_variable_stay_literal() -> None:
    assert render("{{{contact.name}}}", CONTEXT).value == "{Anna}"


def test_invalid_and_valid_variables_mix() -> None:
    assert render("{{}} {{contact.name}} {{a..b}}", CONTEXT).value == "{{}} Anna {{a..b}}"


def test_missing_paths_render_empty_and_are_recorded_once() -> None:
    result = render("{{contact.email}}|{{contact.name}}|{{contact.email}}|{{x.y}}", CONTEXT)
    assert result == RenderResult("|Anna||", ("contact.email", "x.y"))


def test_render_walks_nested_structures() -> None:
    template = {
        "phone": "{{contact.variables.phone}}",
        "lines": ["{{items.0.id}}", "total {{items.1.price}}", 7, None],
        "nested": {"flag": "{{paid}}", "missing": "{{nope}}", "kept": False},
        "tuple": ("{{order-id}}",),
    }
    result = render(template, CONTEXT)
    assert result.value == {
        "phone": "+79001234567",
        "lines": [11, "total 3", 7, None],
        "nested": {"flag": True, "missing": None, "kept": False},
        "tuple": ["A-17"],
    }
    assert result.missing == ("nope",)


def test_render_leaves_dict_keys_alone() -> None:
    assert render({"{{contact.name}}": 1}, CONTEXT).value == {"{{contact.name}}": 1}


@pytest.mark.parametrize("template", [None, 0, 1.5, True, b"{{contact.name}}"])
def test_non_string_scalars_pass_through(template: Any) -> None:
    assert render(template, CONTEXT) == RenderResult(template, ())


def test_render_accepts_read_only_mappings() -> None:
    context = MappingProxyType({"source": MappingProxyType({"a": MappingProxyType({"b": 1})})})
    assert render("a={{a}}", context).value == 'a={"b":1}'


# --- to_text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("текст", "текст"),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (2.0, "2.0"),
        (0.1, "0.1"),
        ([1, "я"], '[1,"я"]'),
        ({"a": None}, '{"a":null}'),
    ],
)
def test_to_text(value: Any, expected: str) -> None:
    assert to_text(value) == expected


# --- variables_in -------------------------------------------------------------------------


def test_variables_in_lists_paths_once_in_order() -> None:
    template = {
        "a": "{{ contact.name }} and {{items.0.id}}",
        "b": ["{{contact.name}}", {"c": "{{steps.update.result}}"}, 5],
        "d": "{{}} {{a..b}} plain",
    }
    assert variables_in(template) == ["contact.name", "items.0.id", "steps.update.result"]


def test_variables_in_plain_values() -> None:
    assert variables_in("no variables") == []
    assert variables_in(42) == []


# --- flatten_fields -----------------------------------------------------------------------


def test_flatten_fields_of_a_sample() -> None:
    sample = {
        "contact": {"variables": {"phone": "+7900"}, "tags": ["vip", "new"]},
        "empty": {},
        "none": [],
        "bad.key": 1,
        "{x}": 2,
        "": 3,
    }
    assert flatten_fields(sample) == {
        "contact.variables.phone": "+7900",
        "contact.tags.0": "vip",
        "contact.tags.1": "new",
        "empty": {},
        "none": [],
    }


def test_flatten_fields_with_prefix() -> None:
    assert flatten_fields({"result": 1}, prefix="steps.b1") == {"steps.b1.result": 1}
    assert flatten_fields(5, prefix="value") == {"value": 5}
    assert flatten_fields(5) == {}


def test_flatten_fields_stops_at_depth_limit() -> None:
    deep: Any = "bottom"
    for _ in range(FLATTEN_MAX_DEPTH + 2):
        deep = {"k": deep}
    fields = flatten_fields(deep)
    path = ".".join(["k"] * FLATTEN_MAX_DEPTH)
    assert fields == {path: {"k": {"k": "bottom"}}}


def test_flatten_fields_stops_at_field_limit() -> None:
    fields = flatten_fields({"rows": list(range(FLATTEN_MAX_FIELDS * 3))})
    assert len(fields) == FLATTEN_MAX_FIELDS
    assert fields["rows.0"] == 0


# --- properties ---------------------------------------------------------------------------


@given(PLAIN_TEXT)
def test_text_without_braces_is_unchanged(text: str) -> None:
    assert render(text, CONTEXT) == RenderResult(text, ())


@given(JSON_VALUES)
def test_exact_variable_returns_the_same_object(value: Any) -> None:
    result = render("{{source.value}}", {"source": {"value": value}})
    assert result.value is value
    assert result.missing == ()


@given(PLAIN_TEXT, JSON_VALUES, PLAIN_TEXT)
def test_variable_in_text_renders_as_its_text_form(before: str, value: Any, after: str) -> None:
    template = f"{before}{{{{ value }}}}{after}"
    if template == "{{ value }}":
        return  # exactly one variable: covered by the typed-value property
    result = render(template, {"source": {"value": value}})
    assert result.value == before + to_text(value) + after


@given(JSON_VALUES)
def test_flattened_fields_resolve_back_to_their_values(data: Any) -> None:
    context = {"source": data}
    for path, value in flatten_fields(data, prefix="source").items():
        assert resolve_path(path, context) == (True, value)


# Fields named like a context root ({{run.id}}, {{bundle.name}}) need the source. prefix.
@given(st.dictionaries(KEYS.filter(lambda key: key not in CONTEXT_ROOTS), JSON_VALUES))
def test_flattened_source_fields_work_as_templates_without_prefix(data: dict[str, Any]) -> None:
    context = {"source": data}
    for path, value in flatten_fields(data).items():
        if path == path.strip():  # outer whitespace is trimmed inside {{ }}
            assert render("{{" + path + "}}", context) == RenderResult(value, ())


@given(st.text(max_size=40), JSON_VALUES)
def test_render_never_fails_and_only_reports_referenced_paths(template: str, data: Any) -> None:
    result = render(template, {"source": data})
    assert set(result.missing) <= set(variables_in(template))
