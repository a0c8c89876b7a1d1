"""Every registered connector keeps the declarative contract the UI and workers rely on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connectors.base import AuthKind, Connector, Field, Operation
from connectors.fields import FIELD_TYPES
from connectors.registry import all_connectors

CONNECTORS = all_connectors()
OPERATIONS = [
    (connector, operation)
    for connector in CONNECTORS
    for operation in (*connector.actions.values(), *connector.triggers.values())
]
# What a sample value must be for each output type; types not listed accept anything.
SAMPLE_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "text": (str,),
    "url": (str,),
    "select": (str,),
    "number": (int, float),
    "boolean": (bool,),
    "keyvalue": (dict,),
}


def by_key(connector: type[Connector]) -> str:
    """Name a parametrized case after the connector."""
    return connector.key


def op_id(case: tuple[type[Connector], Operation]) -> str:
    """Name a parametrized case after the connector and operation."""
    connector, operation = case
    return f"{connector.key}.{operation.kind}.{operation.key}"


def value_at(sample: dict[str, Any], path: str) -> Any:
    """Return the value a dotted output name points at, or raise KeyError."""
    value: Any = sample
    for part in path.split("."):
        value = value[part]
    return value


def test_keys_are_unique() -> None:
    keys = [connector.key for connector in CONNECTORS]
    assert len(keys) == len(set(keys))


def assert_fields_well_formed(fields: tuple[Field, ...]) -> None:
    """Check the shape of one group of fields."""
    names = [item.name for item in fields]
    assert len(names) == len(set(names)), f"duplicate field names in {names}"
    for item in fields:
        assert isinstance(item, Field)
        assert item.name and item.label
        assert item.type in FIELD_TYPES
        assert set(item.depends_on) <= set(names), f"{item.name} depends on an unknown field"
        if item.type == "select":
            assert item.options or item.options_from, f"{item.name} offers no options"
        if item.type == "secret":
            assert item.default is None, f"secret {item.name} must not have a default"


@pytest.mark.parametrize("connector", CONNECTORS, ids=by_key)
def test_identity_is_complete(connector: type[Connector]) -> None:
    assert connector.key.isidentifier() and connector.key == connector.key.lower()
    assert connector.name and connector.icon and connector.description
    assert isinstance(connector.auth_kind, AuthKind)


@pytest.mark.parametrize("connector", CONNECTORS, ids=by_key)
def test_connection_fields_are_well_formed(connector: type[Connector]) -> None:
    assert_fields_well_formed(connector.auth_fields)
    assert_fields_well_formed(connector.config_fields)
    assert all(item.type != "secret" for item in connector.config_fields)


@pytest.mark.parametrize("connector", CONNECTORS, ids=by_key)
def test_services_with_accounts_have_an_overridable_address(connector: type[Connector]) -> None:
    if connector.auth_kind in (AuthKind.NONE, AuthKind.WEBHOOK):
        return
    assert "base_url" in {item.name for item in connector.config_fields}
    assert any(item.type == "secret" for item in connector.auth_fields)


@pytest.mark.parametrize("connector", CONNECTORS, ids=by_key)
def test_describe_is_json_serialisable(connector: type[Connector]) -> None:
    description = json.loads(json.dumps(connector.describe()))
    assert description["key"] == connector.key
    assert len(description["actions"]) == len(connector.actions)
    assert len(description["triggers"]) == len(connector.triggers)


@pytest.mark.parametrize("connector", CONNECTORS, ids=by_key)
def test_operations_point_at_methods(connector: type[Connector]) -> None:
    for table, kind in ((connector.actions, "action"), (connector.triggers, "trigger")):
        for key, operation in table.items():
            assert operation.key == key and operation.kind == kind
            assert callable(getattr(connector, operation.method))


@pytest.mark.parametrize("case", OPERATIONS, ids=op_id)
def test_operation_fields_are_well_formed(case: tuple[type[Connector], Operation]) -> None:
    _, operation = case
    assert operation.label
    assert_fields_well_formed(operation.inputs)
    assert_fields_well_formed(operation.outputs)
    if operation.kind == "action":
        assert not operation.push


@pytest.mark.parametrize("case", OPERATIONS, ids=op_id)
def test_sample_matches_outputs(case: tuple[type[Connector], Operation]) -> None:
    _, operation = case
    sample = dict(operation.sample)
    json.dumps(sample)
    names = [item.name for item in operation.outputs]
    if not names:
        # Only webhook-fed triggers may learn their outputs from what they receive.
        assert operation.push and not sample
        return
    for item in operation.outputs:
        value = value_at(sample, item.name)
        expected = SAMPLE_TYPES.get(item.type)
        if expected:
            assert isinstance(value, expected), f"sample {item.name} is not a {item.type}"
            assert item.type == "boolean" or not isinstance(value, bool)
    for key in sample:
        assert any(name == key or name.startswith(f"{key}.") for name in names), (
            f"sample key {key!r} has no output field"
        )
