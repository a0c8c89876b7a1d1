"""The Connector base class collects declarations and dispatches to behaviour."""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping
from typing import Any

import pytest

from connectors.base import AuthKind, Connector, Field, PollResult, action, trigger
from connectors.errors import AuthError, ConnectorError, RetryableError


class Notes(Connector):
    """A connector that exists only in these tests."""

    key = "notes"
    name = "Notes"
    auth_kind = AuthKind.API_KEY
    auth_fields = (Field("api_key", "API key", type="secret", required=True),)
    config_fields = (Field("base_url", "API address", type="url", default="https://notes.test"),)

    @action(
        "add_note",
        label="Add note",
        inputs=(Field("text", "Text", required=True), Field("color", "Color", default="yellow")),
        outputs=(Field("id", "ID", type="number"),),
        sample={"id": 1},
    )
    def add_note(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Echo the inputs so tests can see what dispatch passed."""
        return {"id": 1, "params": dict(params)}

    @trigger("new_note", label="New note", outputs=(Field("id", "ID", type="number"),))
    def new_notes(self, params: Mapping[str, Any], cursor: Mapping[str, Any] | None) -> PollResult:
        """Return one note newer than the cursor."""
        last = (cursor or {}).get("last", 0)
        return PollResult(
            items=[{"id": last + 1}], cursor={"last": last + 1}, item_keys=[str(last + 1)]
        )


class ColorNotes(Notes):
    """A subclass that overrides one action and adds another."""

    @action("add_note", label="Add colored note")
    def add_colored(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Return a marker showing the override ran."""
        return {"overridden": True}

    @action("archive", label="Archive")
    def archive(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Return nothing in particular."""
        return {}


def make() -> Notes:
    """Return a Notes connector with harmless settings."""
    return Notes({"base_url": "https://notes.test"}, {"api_key": "k"})


def test_decorated_methods_are_collected() -> None:
    assert list(Notes.actions) == ["add_note"]
    assert list(Notes.triggers) == ["new_note"]
    assert Notes.actions["add_note"].method == "add_note"
    assert Notes.triggers["new_note"].kind == "trigger"


def test_subclass_inherits_and_overrides_without_touching_the_parent() -> None:
    assert sorted(ColorNotes.actions) == ["add_note", "archive"]
    assert ColorNotes.actions["add_note"].label == "Add colored note"
    assert Notes.actions["add_note"].label == "Add note"
    assert ColorNotes.triggers == Notes.triggers


def test_duplicate_keys_in_one_class_are_refused() -> None:
    with pytest.raises(ValueError, match="declares action 'same' twice"):

        class Twice(Connector):
            @action("same", label="One")
            def one(self, params: Mapping[str, Any]) -> dict[str, Any]:
                return {}

            @action("same", label="Two")
            def two(self, params: Mapping[str, Any]) -> dict[str, Any]:
                return {}


def test_run_action_fills_defaults_and_passes_inputs() -> None:
    result = make().run_action("add_note", {"text": "hi"})
    assert result == {"id": 1, "params": {"text": "hi", "color": "yellow"}}


@pytest.mark.parametrize("params", [{}, {"text": ""}, {"text": None}])
def test_run_action_refuses_missing_required_inputs(params: dict) -> None:
    with pytest.raises(ConnectorError, match="Add note: Text is required"):
        make().run_action("add_note", params)


def test_unknown_action_is_a_connector_error() -> None:
    with pytest.raises(ConnectorError, match="Notes has no action named 'nope'"):
        make().run_action("nope", {})


def test_poll_passes_the_cursor_through() -> None:
    result = make().poll("new_note", {}, {"last": 4})
    assert result == PollResult(items=[{"id": 5}], cursor={"last": 5}, item_keys=["5"])


def test_polling_trigger_cannot_receive_webhooks() -> None:
    with pytest.raises(ConnectorError, match="polls; it cannot receive"):
        make().receive("new_note", {}, {"body": ""})


def test_unknown_trigger_is_a_connector_error() -> None:
    with pytest.raises(ConnectorError, match="Notes has no trigger named 'gone'"):
        make().poll("gone", {}, None)


def test_poll_result_needs_one_key_per_item() -> None:
    with pytest.raises(ValueError, match="one item key per item"):
        PollResult(items=[{"id": 1}], cursor={}, item_keys=[])


def test_abstract_test_connection_is_not_implemented() -> None:
    with pytest.raises(NotImplementedError):
        make().test_connection()


def test_refresh_metadata_defaults_to_nothing() -> None:
    assert make().refresh_metadata() == {}


def test_unknown_field_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown type 'strng'"):
        Field("x", "X", type="strng")


def test_describe_is_plain_json() -> None:
    description = json.loads(json.dumps(Notes.describe()))
    assert description["auth_kind"] == "api_key"
    assert description["auth_fields"][0] == {
        "name": "api_key",
        "label": "API key",
        "type": "secret",
        "required": True,
        "default": None,
        "help": "",
        "options": [],
        "options_from": None,
        "depends_on": [],
        "placeholder": "",
    }
    assert description["actions"][0]["inputs"][1]["default"] == "yellow"
    assert description["triggers"][0]["push"] is False


def test_select_options_are_described_as_value_label_pairs() -> None:
    field = Field("color", "Color", type="select", options=(("y", "Yellow"),), depends_on=("a",))
    assert field.describe()["options"] == [{"value": "y", "label": "Yellow"}]
    assert field.describe()["depends_on"] == ["a"]


def test_default_http_client_is_guarded_and_reused() -> None:
    connector = make()
    assert connector.http.guard is True
    assert connector.http is connector.http


@pytest.mark.parametrize(
    "error",
    [
        ConnectorError("bad input", service_message="field x", status=400),
        AuthError("key revoked", status=401),
        RetryableError("slow down", retry_after=7.0, status=429),
    ],
)
def test_errors_keep_their_details_through_pickling(error: ConnectorError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert vars(copy) == vars(error)
    assert str(copy) == str(error)
