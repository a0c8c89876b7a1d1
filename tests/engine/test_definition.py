"""Tests for the bundle definition format: every rule, with the exact path of each error."""

from __future__ import annotations

import copy
import json
import pickle
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors import registry
from connectors.base import AuthKind, Connector, Field, PollResult, action, trigger
from workers.engine.definition import (
    MAX_BLOCKS,
    MAX_DEPTH,
    DefinitionError,
    connection_ids,
    empty_definition,
    iter_blocks,
    validate_definition,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "bundle-format.md"


class TestCrm(Connector):
    """A connector that needs a connection, with a polling and a push trigger."""

    __test__ = False  # a connector, not a pytest test class
    key = "test_crm"
    name = "Test CRM"
    auth_kind = AuthKind.API_KEY

    @action(
        "update_contact",
        label="Update contact",
        inputs=(Field("email", "Email", required=True), Field("name", "Name")),
    )
    def update_contact(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Pretend to update a contact."""
        return {}

    @action("ping", label="Ping")
    def ping(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Pretend to ping."""
        return {}

    @trigger("new_rows", label="New rows", inputs=(Field("sheet", "Sheet", required=True),))
    def new_rows(self, params: Mapping[str, Any], cursor: Any) -> PollResult:
        """Pretend to poll."""
        return PollResult([], {}, [])

    @trigger("incoming", label="Incoming", push=True)
    def incoming(self, params: Mapping[str, Any], event: Any) -> list[dict[str, Any]]:
        """Pretend to receive."""
        return []


class StandInGoogleSheets(Connector):
    """Stand-in for the documented example until the real connector is registered."""

    key = "google_sheets"
    name = "Google Sheets (stand-in)"
    auth_kind = AuthKind.OAUTH2

    @trigger("new_rows", label="New rows")
    def new_rows(self, params: Mapping[str, Any], cursor: Any) -> PollResult:
        """Pretend to poll."""
        return PollResult([], {}, [])


class StandInHelpCrunch(Connector):
    """Stand-in for the documented example until the real connector is registered."""

    key = "helpcrunch"
    name = "HelpCrunch (stand-in)"
    auth_kind = AuthKind.API_KEY

    @action("update_contact", label="Update contact")
    def update_contact(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Pretend to update a contact."""
        return {}

    @action("create_contact", label="Create contact")
    def create_contact(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Pretend to create a contact."""
        return {}


class StandInTelegram(Connector):
    """Stand-in for the documented example until the real connector is registered."""

    key = "telegram"
    name = "Telegram (stand-in)"
    auth_kind = AuthKind.API_KEY

    @action("send_message", label="Send message")
    def send_message(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Pretend to send a message."""
        return {}


@pytest.fixture(autouse=True)
def test_crm() -> Iterator[type[Connector]]:
    """Register the test connector for one test, then remove it."""
    registry.register(TestCrm)
    yield TestCrm
    registry.REGISTRY.pop(TestCrm.key, None)


@pytest.fixture
def documented_services() -> Iterator[None]:
    """Register stand-ins for the example's services that no real connector provides yet."""
    registry.load_builtin()
    stand_ins = (StandInGoogleSheets, StandInHelpCrunch, StandInTelegram)
    added = [cls for cls in stand_ins if cls.key not in registry.REGISTRY]
    for cls in added:
        registry.register(cls)
    yield
    for cls in added:
        registry.REGISTRY.pop(cls.key, None)


# --- builders -----------------------------------------------------------------------------


def definition(*blocks: dict[str, Any], source: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build a definition with a webhook source unless another one is given."""
    return {"format": 1, "source": source or {"kind": "webhook"}, "blocks": list(blocks)}


def request(block_id: str = "r1", **fields: Any) -> dict[str, Any]:
    """Build a valid http_request receiver."""
    block = {"id": block_id, "kind": "receiver", "service": "http_request", "action": "request"}
    return block | {"params": {"url": "https://example.com/hook"}} | fields


def crm(block_id: str = "c1", connection: Any = 1, **params: Any) -> dict[str, Any]:
    """Build a receiver of the test CRM."""
    return {
        "id": block_id,
        "kind": "receiver",
        "service": "test_crm",
        "connection": connection,
        "action": "update_contact",
        "params": {"email": "{{source.email}}", **params},
    }


def one(field: str, op: str = "equals", value: Any = None, **options: Any) -> dict[str, Any]:
    """Build conditions holding one condition."""
    return {"any": [{"all": [{"field": field, "op": op, "value": value, **options}]}]}


def filter_block(block_id: str = "f1", conditions: Any = None) -> dict[str, Any]:
    """Build a filter block (no conditions: always passes)."""
    return {"id": block_id, "kind": "filter", "conditions": conditions or {"any": []}}


def logic(
    block_id: str = "l1",
    conditions: Any = None,
    then: list[dict[str, Any]] | None = None,
    otherwise: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Build a logic block."""
    return {
        "id": block_id,
        "kind": "logic",
        "conditions": conditions or {"any": []},
        "then": then or [],
        "else": otherwise or [],
    }


def polling(**fields: Any) -> dict[str, Any]:
    """Build a valid polling source of the test CRM."""
    source = {"kind": "polling", "service": "test_crm", "connection": 1, "trigger": "new_rows"}
    return source | {"params": {"sheet": "Leads"}} | fields


def refused(document: Any, **options: Any) -> DefinitionError:
    """Validate a definition that must be refused and return the error."""
    with pytest.raises(DefinitionError) as caught:
        validate_definition(document, **options)
    return caught.value


def nested(depth: int) -> dict[str, Any]:
    """Build logic blocks nested so the innermost filter sits at level `depth`."""
    block = filter_block(f"f{depth}")
    for level in range(depth - 1, 0, -1):
        block = logic(f"l{level}", then=[block])
    return block


# --- the error itself ---------------------------------------------------------------------


def test_error_carries_path_and_problem() -> None:
    error = refused(definition(request(titel="x")))
    assert error.path == "blocks[0].titel"
    assert error.problem.startswith("unknown key")
    assert str(error).startswith("blocks[0].titel: unknown key")


def test_error_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(DefinitionError("source.kind", "bad")))
    assert (error.path, error.problem, str(error)) == ("source.kind", "bad", "source.kind: bad")
    assert str(DefinitionError("", "not an object")) == "not an object"


# --- format and top level -----------------------------------------------------------------


def test_missing_format_is_refused() -> None:
    assert refused({"source": {"kind": "webhook"}, "blocks": []}).path == "format"


def test_newer_format_is_refused_by_name() -> None:
    error = refused({"format": 2, "source": {"kind": "webhook"}, "surprise": 1})
    assert error.path == "format"
    assert "made by a newer svyazka" in str(error)


@pytest.mark.parametrize("version", [0, -1, "1", 1.0, True, None])
def test_malformed_format_is_refused(version: Any) -> None:
    error = refused({"format": version, "source": {"kind": "webhook"}})
    assert (error.path, error.problem) == ("format", f"unknown format {version!r}")


@pytest.mark.parametrize("document", [None, [], "text", 1])
def test_a_definition_must_be_an_object(document: Any) -> None:
    assert refused(document).path == ""


def test_unknown_top_level_key_is_refused() -> None:
    assert refused({"format": 1, "source": {"kind": "webhook"}, "blcoks": []}).path == "blcoks"


def test_missing_source_is_refused() -> None:
    assert refused({"format": 1, "blocks": []}).path == "source"


def test_blocks_must_be_a_list() -> None:
    assert refused({"format": 1, "source": {"kind": "webhook"}, "blocks": {}}).path == "blocks"


# --- normalisation ------------------------------------------------------------------------


def test_defaults_are_filled() -> None:
    document = definition(
        {"id": "p", "kind": "receiver", "service": "test_crm", "connection": 4, "action": "ping"},
        {"id": "f", "kind": "filter", "conditions": {"any": []}},
        {"id": "l", "kind": "logic", "conditions": {"any": []}},
    )
    assert validate_definition(document) == {
        "format": 1,
        "source": {
            "kind": "webhook",
            "params": {},
            "backfill": False,
            "idempotency": None,
            "idempotency_window_minutes": 1440,
        },
        "blocks": [
            {
                "id": "p",
                "kind": "receiver",
                "title": "",
                "service": "test_crm",
                "connection": 4,
                "action": "ping",
                "params": {},
            },
            {"id": "f", "kind": "filter", "title": "", "conditions": {"any": []}},
            {
                "id": "l",
                "kind": "logic",
                "comment": "",
                "conditions": {"any": []},
                "then": [],
                "else": [],
            },
        ],
    }


def test_a_connection_free_receiver_gets_connection_none() -> None:
    assert validate_definition(definition(request()))["blocks"][0]["connection"] is None


def test_normalising_twice_changes_nothing() -> None:
    once = validate_definition(definition(request(), logic(then=[crm()]), source=None))
    assert validate_definition(once) == once


def test_the_input_is_copied_not_shared() -> None:
    document = definition(request(params={"url": "https://x", "headers": {"A": "1"}}))
    original = copy.deepcopy(document)
    result = validate_definition(document)
    result["blocks"][0]["params"]["headers"]["A"] = "changed"
    assert document == original


def test_tuples_become_lists_as_json_stores_them() -> None:
    document = definition(request(params={"url": "https://x", "body": ("a", ("b",))}))
    assert validate_definition(document)["blocks"][0]["params"]["body"] == ["a", ["b"]]


# --- source -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["webhook", "schedule", "manual"])
def test_simple_source_kinds_are_accepted(kind: str) -> None:
    assert validate_definition(definition(source={"kind": kind}))["source"]["kind"] == kind


@pytest.mark.parametrize("kind", [None, "push", "Webhook", 1])
def test_unknown_source_kind_is_refused(kind: Any) -> None:
    assert refused(definition(source={"kind": kind})).path == "source.kind"


def test_source_must_be_an_object() -> None:
    assert refused(definition(source=["webhook"])).path == "source"


@pytest.mark.parametrize("key", ["service", "connection", "trigger"])
@pytest.mark.parametrize("kind", ["webhook", "schedule", "manual"])
def test_only_polling_takes_service_connection_trigger(kind: str, key: str) -> None:
    error = refused(definition(source={"kind": kind, key: "x"}))
    assert error.path == f"source.{key}"
    assert "only a polling one" in error.problem


def test_unknown_source_key_is_refused() -> None:
    assert refused(definition(source={"kind": "webhook", "idempotncy": None})).path == (
        "source.idempotncy"
    )
    assert refused(definition(source=polling(extra=1))).path == "source.extra"


def test_only_polling_takes_params() -> None:
    error = refused(definition(source={"kind": "manual", "params": {"a": 1}}))
    assert error.path == "source.params"


def test_polling_source_is_normalised() -> None:
    source = validate_definition(definition(source=polling(backfill=True)))["source"]
    assert source == {
        "kind": "polling",
        "service": "test_crm",
        "connection": 1,
        "trigger": "new_rows",
        "params": {"sheet": "Leads"},
        "backfill": True,
        "idempotency": None,
        "idempotency_window_minutes": 1440,
    }


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"service": None}, "source.service"),
        ({"service": "nope"}, "source.service"),
        ({"trigger": None}, "source.trigger"),
        ({"trigger": "old_rows"}, "source.trigger"),
        ({"connection": None}, "source.connection"),
        ({"connection": "1"}, "source.connection"),
        ({"params": {}}, "source.params.sheet"),
        ({"params": {"sheet": "  "}}, "source.params.sheet"),
        ({"params": []}, "source.params"),
        ({"backfill": "yes"}, "source.backfill"),
    ],
)
def test_polling_source_errors(changes: dict[str, Any], path: str) -> None:
    assert refused(definition(source=polling(**changes))).path == path


def test_a_push_trigger_cannot_be_polled() -> None:
    error = refused(definition(source=polling(trigger="incoming", params={})))
    assert error.path == "source.trigger"
    assert "use a webhook source" in error.problem


def test_the_builtin_webhook_trigger_cannot_be_polled() -> None:
    source = {"kind": "polling", "service": "webhook", "connection": 1, "trigger": "catch"}
    assert refused(definition(source=source)).path == "source.trigger"


def test_backfill_only_applies_to_polling() -> None:
    error = refused(definition(source={"kind": "webhook", "backfill": True}))
    assert error.path == "source.backfill"
    assert validate_definition(definition(source={"kind": "webhook", "backfill": False}))


def test_a_polling_connection_is_checked_against_the_workspace() -> None:
    error = refused(definition(source=polling()), connection_service={}.get)
    assert (error.path, error.problem) == (
        "source.connection",
        "connection 1 does not exist in this workspace",
    )


def test_trigger_params_cannot_refer_to_steps() -> None:
    source = polling(params={"sheet": "{{steps.c1.result}}"})
    error = refused(definition(crm(), source=source))
    assert error.path == "source.params.sheet"
    assert "the source runs before every block" in error.problem


@pytest.mark.parametrize(
    ("kind", "idempotency"),
    [
        ("webhook", {"header": "Idempotency-Key"}),
        ("webhook", {"path": "order.id"}),
        ("manual", {"path": "Order ID"}),
    ],
)
def test_idempotency_keys_are_accepted(kind: str, idempotency: dict[str, str]) -> None:
    source = {"kind": kind, "idempotency": idempotency, "idempotency_window_minutes": 60}
    normalised = validate_definition(definition(source=source))["source"]
    assert normalised["idempotency"] == idempotency
    assert normalised["idempotency_window_minutes"] == 60


def test_polling_accepts_an_idempotency_path() -> None:
    source = polling(idempotency={"path": " row.id "})
    assert validate_definition(definition(source=source))["source"]["idempotency"] == {
        "path": "row.id"
    }


@pytest.mark.parametrize(
    ("source", "path"),
    [
        ({"kind": "webhook", "idempotency": "Idempotency-Key"}, "source.idempotency"),
        ({"kind": "webhook", "idempotency": {}}, "source.idempotency"),
        ({"kind": "webhook", "idempotency": {"header": "A", "path": "b"}}, "source.idempotency"),
        ({"kind": "webhook", "idempotency": {"body": "a"}}, "source.idempotency"),
        ({"kind": "webhook", "idempotency": {"header": ""}}, "source.idempotency.header"),
        ({"kind": "webhook", "idempotency": {"header": "Bad Name"}}, "source.idempotency.header"),
        ({"kind": "webhook", "idempotency": {"path": "a..b"}}, "source.idempotency.path"),
        ({"kind": "webhook", "idempotency": {"path": "{{a}}"}}, "source.idempotency.path"),
        ({"kind": "webhook", "idempotency": {"path": 5}}, "source.idempotency.path"),
        ({"kind": "manual", "idempotency": {"header": "X-Id"}}, "source.idempotency.header"),
    ],
)
def test_malformed_idempotency_is_refused(source: dict[str, Any], path: str) -> None:
    assert refused(definition(source=source)).path == path


@pytest.mark.parametrize("minutes", [1, 43200])
def test_window_limits_are_inclusive(minutes: int) -> None:
    source = {"kind": "webhook", "idempotency_window_minutes": minutes}
    assert validate_definition(definition(source=source))["source"][
        "idempotency_window_minutes"
    ] == (minutes)


@pytest.mark.parametrize("minutes", [0, 43201, -5, "60", 60.0, True, None])
def test_window_out_of_range_is_refused(minutes: Any) -> None:
    source = {"kind": "webhook", "idempotency_window_minutes": minutes}
    assert refused(definition(source=source)).path == "source.idempotency_window_minutes"


# --- blocks: shape, ids, limits -----------------------------------------------------------


def test_a_block_must_be_an_object() -> None:
    assert refused(definition(request(), "r2")).path == "blocks[1]"


@pytest.mark.parametrize("kind", [None, "action", "Receiver"])
def test_unknown_block_kind_is_refused(kind: Any) -> None:
    assert refused(definition({"id": "x", "kind": kind})).path == "blocks[0].kind"


@pytest.mark.parametrize(
    ("block", "key"),
    [
        (request(titel="x"), "titel"),
        (filter_block() | {"comment": "x"}, "comment"),
        (logic() | {"title": "x"}, "title"),
        (logic() | {"otherwise": []}, "otherwise"),
    ],
)
def test_unknown_block_keys_are_refused(block: dict[str, Any], key: str) -> None:
    assert refused(definition(block)).path == f"blocks[0].{key}"


def test_unknown_keys_inside_params_are_kept() -> None:
    block = request(params={"url": "https://x", "anything": {"goes": [1]}})
    params = validate_definition(definition(block))["blocks"][0]["params"]
    assert params["anything"] == {"goes": [1]}


@pytest.mark.parametrize("block_id", ["", "1abc", "_a", "a b", "a.b", "a" * 65, "b1\n", 5, None])
def test_invalid_ids_are_refused(block_id: Any) -> None:
    assert refused(definition(request(block_id))).path == "blocks[0].id"


@pytest.mark.parametrize("block_id", ["a", "A-b_9", "a" * 64, "Update_contact-2"])
def test_valid_ids_are_accepted(block_id: str) -> None:
    assert validate_definition(definition(request(block_id)))["blocks"][0]["id"] == block_id


def test_ids_are_unique_across_the_whole_tree() -> None:
    error = refused(
        definition(request("a"), logic("l", then=[filter_block("b")], otherwise=[request("a")]))
    )
    assert error.path == "blocks[1].else[0].id"
    assert "already used by blocks[0]" in error.problem


def test_blocks_nest_up_to_the_maximum_depth() -> None:
    assert validate_definition(definition(nested(MAX_DEPTH)))


def test_deeper_nesting_is_refused() -> None:
    error = refused(definition(nested(MAX_DEPTH + 1)))
    assert error.path == "blocks[0]" + ".then[0]" * MAX_DEPTH


def test_an_empty_branch_at_the_deepest_level_is_fine() -> None:
    document = definition(nested(MAX_DEPTH - 1))
    assert validate_definition(document)


def test_the_block_count_includes_nested_blocks() -> None:
    flat = [filter_block(f"f{index}") for index in range(MAX_BLOCKS - 1)]
    document = definition(*flat, logic("l", then=[filter_block("extra")]))
    error = refused(document)
    assert error.path == f"blocks[{MAX_BLOCKS - 1}].then[0]"
    assert str(MAX_BLOCKS) in error.problem


def test_exactly_the_maximum_number_of_blocks_is_accepted() -> None:
    blocks = [filter_block(f"f{index}") for index in range(MAX_BLOCKS)]
    assert len(validate_definition(definition(*blocks))["blocks"]) == MAX_BLOCKS


def test_branches_must_be_lists() -> None:
    assert refused(definition(logic() | {"then": {}})).path == "blocks[0].then"
    assert refused(definition(logic() | {"else": None})).path == "blocks[0].else"


# --- receivers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"service": "helpcrunch_typo"}, "blocks[0].service"),
        ({"service": ""}, "blocks[0].service"),
        ({"action": "post"}, "blocks[0].action"),
        ({"action": None}, "blocks[0].action"),
        ({"params": None}, "blocks[0].params"),
        ({"title": 5}, "blocks[0].title"),
    ],
)
def test_receiver_errors(changes: dict[str, Any], path: str) -> None:
    assert refused(definition(request() | changes)).path == path


def test_unknown_action_lists_the_known_ones() -> None:
    error = refused(definition(request(action="post")))
    assert error.problem == "HTTP request has no action 'post' (it has: request)"


def test_a_connector_without_actions_is_no_receiver() -> None:
    block = request(service="webhook", action="catch", connection=1)
    error = refused(definition(block))
    assert error.path == "blocks[0].action"
    assert "(it has: none)" in error.problem


@pytest.mark.parametrize("url", [None, "", "   ", [], {}])
def test_required_inputs_must_be_filled(url: Any) -> None:
    error = refused(definition(request(params={"url": url})))
    assert error.path == "blocks[0].params.url"
    assert "URL is required" in error.problem


def test_a_missing_required_input_is_refused() -> None:
    assert refused(definition(request(params={}))).path == "blocks[0].params.url"


def test_a_template_fills_a_required_input() -> None:
    assert validate_definition(definition(request(params={"url": "{{source.callback}}"})))


def test_a_declared_default_fills_a_required_input() -> None:
    # http_request declares method GET, required; the connector fills it at run time.
    assert validate_definition(definition(request(params={"url": "https://x"})))
    error = refused(definition(request(params={"url": "https://x", "method": ""})))
    assert error.path == "blocks[0].params.method"


def test_required_inputs_of_nested_receivers_are_checked() -> None:
    document = definition(logic("l", otherwise=[crm("c", email="")]))
    assert refused(document).path == "blocks[0].else[0].params.email"


def test_a_receiver_needs_a_connection_unless_its_service_has_no_auth() -> None:
    error = refused(definition(crm(connection=None)))
    assert (error.path, error.problem) == ("blocks[0].connection", "choose a Test CRM connection")
    block = crm()
    del block["connection"]
    assert refused(definition(block)).path == "blocks[0].connection"


@pytest.mark.parametrize("connection", ["3", 3.0, True, {"name": "x"}])
def test_a_connection_must_be_an_id(connection: Any) -> None:
    assert refused(definition(crm(connection=connection))).path == "blocks[0].connection"


def test_without_a_lookup_any_connection_id_is_accepted() -> None:
    assert validate_definition(definition(crm(connection=99)))["blocks"][0]["connection"] == 99


def test_an_unknown_or_foreign_connection_is_refused() -> None:
    error = refused(definition(crm(connection=7)), connection_service={3: "test_crm"}.get)
    assert (error.path, error.problem) == (
        "blocks[0].connection",
        "connection 7 does not exist in this workspace",
    )


def test_a_connection_of_another_service_is_refused() -> None:
    document = definition(logic("l", then=[crm(connection=3)]))
    error = refused(document, connection_service={3: "telegram"}.get)
    assert error.path == "blocks[0].then[0].connection"
    assert "is a telegram connection" in error.problem


def test_a_matching_connection_is_accepted() -> None:
    lookups: list[int] = []

    def service_of(connection_id: int) -> str | None:
        lookups.append(connection_id)
        return "test_crm"

    validate_definition(
        definition(crm(connection=3), source=polling(connection=4)), connection_service=service_of
    )
    assert sorted(lookups) == [3, 4]


# --- filters and logic --------------------------------------------------------------------


@pytest.mark.parametrize("block", [filter_block(), logic()])
def test_conditions_are_required(block: dict[str, Any]) -> None:
    del block["conditions"]
    assert refused(definition(block)).path == "blocks[0].conditions"


@pytest.mark.parametrize("conditions", [None, [], "x", {"all": []}])
def test_conditions_must_be_an_any_object(conditions: Any) -> None:
    block = filter_block() | {"conditions": conditions}
    assert refused(definition(block)).path == "blocks[0].conditions"


def test_condition_errors_keep_their_explanation() -> None:
    block = logic("l", then=[filter_block("f", one("source.x", op="nope"))])
    error = refused(definition(block))
    assert error.path == "blocks[0].then[0].conditions"
    assert error.problem == "Group 1, condition 1: unknown operator 'nope'."


def test_an_invalid_regular_expression_is_refused() -> None:
    error = refused(definition(filter_block("f", one("email", "matches", "(unclosed"))))
    assert error.path == "blocks[0].conditions"
    assert "invalid regular expression" in error.problem


# --- references to earlier steps ----------------------------------------------------------


def test_an_earlier_sibling_may_be_referenced() -> None:
    second = request("r2", params={"url": "https://x/{{steps.r1.body.id}}"})
    assert validate_definition(definition(request("r1"), second))


def test_a_later_sibling_is_refused() -> None:
    first = request("r1", params={"url": "https://x/{{ steps.r2.result }}"})
    error = refused(definition(first, request("r2")))
    assert error.path == "blocks[0].params.url"
    assert error.problem == (
        "{{steps.r2.result}} cannot be used here: 'r2' runs after this block (blocks[1]); "
        "move it earlier"
    )


def test_a_block_cannot_refer_to_itself() -> None:
    error = refused(definition(request("r1", params={"url": "{{steps.r1.errors}}"})))
    assert error.path == "blocks[0].params.url"
    assert error.problem.endswith("a block cannot use its own output")


def test_an_unknown_step_is_refused() -> None:
    error = refused(definition(request("r1", params={"url": "{{steps.nope.result}}"})))
    assert error.problem.endswith("no block has the id 'nope'")


def test_nested_blocks_see_blocks_before_their_logic_block() -> None:
    inner = crm("create", name="{{steps.update.errors}}")
    document = definition(
        crm("update"),
        logic("l1", one("steps.update.result", value=0, type="result"), then=[inner]),
    )
    assert validate_definition(document)


def test_nested_blocks_see_earlier_siblings_of_every_ancestor() -> None:
    deepest = request("deep", params={"url": "{{steps.top.result}}{{steps.mid.result}}"})
    document = definition(
        request("top"),
        logic("outer", then=[request("mid"), logic("inner", then=[deepest])]),
    )
    assert validate_definition(document)


def test_then_cannot_refer_to_else_of_the_same_logic() -> None:
    then_block = request("t", params={"url": "{{steps.e.result}}"})
    document = definition(logic("l", then=[then_block], otherwise=[request("e")]))
    error = refused(document)
    assert error.path == "blocks[0].then[0].params.url"
    assert "the other branch of the same logic block (blocks[0].else[0])" in error.problem


def test_else_cannot_refer_to_then_of_the_same_logic() -> None:
    else_block = filter_block("e", one("{{steps.t.errors}}", "is_empty"))
    document = definition(logic("l", then=[request("t")], otherwise=[else_block]))
    error = refused(document)
    assert error.path == "blocks[0].else[0].conditions.any[0].all[0].field"


def test_a_block_after_a_logic_may_check_its_nested_blocks() -> None:
    # Seed 001: a later "if creating failed" block checks a receiver nested in the first
    # logic block; when that receiver did not run, its output reads as missing.
    after = request("after", params={"url": "{{steps.create.errors}}"})
    document = definition(logic("l", then=[request("create")]), after)
    assert validate_definition(document)["blocks"][1]["id"] == "after"


def test_a_logic_cannot_check_its_own_nested_blocks() -> None:
    document = definition(logic("l", one("steps.inner.result"), then=[request("inner")]))
    error = refused(document)
    assert error.path == "blocks[0].conditions.any[0].all[0].field"
    assert error.problem.endswith("'inner' sits inside this block and runs after it")


def test_a_nested_block_may_use_its_enclosing_logic_result() -> None:
    # The executor records a logic block's result before running its branch.
    block = request("r", params={"url": "{{steps.l.result}}"})
    assert validate_definition(definition(logic("l", otherwise=[block])))


def test_references_in_condition_values_are_checked() -> None:
    conditions = {
        "any": [
            {
                "all": [
                    {"field": "source.a", "op": "equals", "value": "x"},
                ]
            },
            {
                "all": [
                    {"field": "source.b", "op": "in", "value": ["a", "{{steps.later.result}}"]},
                ]
            },
        ]
    }
    error = refused(definition(filter_block("f", conditions), request("later")))
    assert error.path == "blocks[0].conditions.any[1].all[0].value[1]"


def test_references_deep_inside_params_name_the_exact_key() -> None:
    params = {"url": "https://x", "headers": {"X-Id": "{{steps.b.result}}"}}
    error = refused(definition(request("a", params=params), request("b")))
    assert error.path == "blocks[0].params.headers.X-Id"


def test_source_paths_are_not_step_references() -> None:
    params = {"url": "{{source.steps.x}}{{contact.variables.phone}}{{steps}}{{items.0.id}}"}
    assert validate_definition(definition(request(params=params)))


# --- the walk and helpers -----------------------------------------------------------------


def test_iter_blocks_follows_execution_order() -> None:
    document = definition(
        request("a"),
        logic(
            "l",
            then=[request("t1"), logic("m", otherwise=[request("e")])],
            otherwise=[request("e2")],
        ),
        request("z"),
    )
    walked = [(path, block["id"]) for path, block in iter_blocks(document["blocks"])]
    assert walked == [
        ("blocks[0]", "a"),
        ("blocks[1]", "l"),
        ("blocks[1].then[0]", "t1"),
        ("blocks[1].then[1]", "m"),
        ("blocks[1].then[1].else[0]", "e"),
        ("blocks[1].else[0]", "e2"),
        ("blocks[2]", "z"),
    ]


def test_iter_blocks_skips_malformed_parts() -> None:
    blocks = ["x", {"id": "l", "kind": "logic", "then": "nope", "else": [None, {"id": "b"}]}]
    assert [path for path, _ in iter_blocks(blocks)] == ["blocks[1]", "blocks[1].else[1]"]


def test_connection_ids_collects_source_and_receivers() -> None:
    document = definition(
        crm("a", connection=3),
        request("b"),
        logic("l", then=[crm("c", connection=5)], otherwise=[crm("d", connection=3)]),
        source=polling(connection=9),
    )
    assert connection_ids(document) == {3, 5, 9}
    assert connection_ids(definition(request())) == set()


def test_empty_definition_is_valid_and_normalised() -> None:
    empty = empty_definition()
    assert empty["source"]["kind"] == "webhook"
    assert empty["blocks"] == []
    assert validate_definition(empty) == empty
    assert empty_definition("schedule")["source"]["kind"] == "schedule"


@pytest.mark.parametrize("kind", ["polling", "push"])
def test_empty_definition_refuses_kinds_it_cannot_fill(kind: str) -> None:
    with pytest.raises(ValueError):
        empty_definition(kind)


# --- the documented example ---------------------------------------------------------------


def documented_example() -> dict[str, Any]:
    """Return the complete example of docs/bundle-format.md."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## A complete example", 1)[1]
    match = re.search(r"```json\n(.*?)\n```", section, re.DOTALL)
    assert match, "the complete example has no JSON block"
    return json.loads(match.group(1))


def test_the_documented_seed_scenario_is_valid(documented_services: None) -> None:
    example = documented_example()
    services = {1: "google_sheets", 2: "helpcrunch", 3: "telegram"}
    assert validate_definition(example, connection_service=services.get) == example
    ids = [block["id"] for _, block in iter_blocks(example["blocks"])]
    assert ids == ["update", "if_update_failed", "create", "if_create_failed", "notify"]


# --- properties ---------------------------------------------------------------------------

SHAPES = st.recursive(
    st.sampled_from(["receiver", "filter"]),
    lambda children: st.tuples(st.lists(children, max_size=3), st.lists(children, max_size=3)),
    max_leaves=12,
)


def build(shapes: list[Any], counter: Iterator[int]) -> list[dict[str, Any]]:
    """Turn generated shapes into blocks with unique ids."""
    blocks = []
    for shape in shapes:
        block_id = f"b{next(counter)}"
        if shape == "receiver":
            blocks.append(request(block_id))
        elif shape == "filter":
            blocks.append(filter_block(block_id))
        else:
            then, otherwise = shape
            blocks.append(
                logic(block_id, then=build(then, counter), otherwise=build(otherwise, counter))
            )
    return blocks


@given(st.lists(SHAPES, max_size=4))
def test_generated_trees_validate_and_normalise_idempotently(shapes: list[Any]) -> None:
    blocks = build(shapes, iter(range(10_000)))
    normalised = validate_definition(definition(*blocks))
    assert validate_definition(normalised) == normalised
    assert [block["id"] for _, block in iter_blocks(normalised["blocks"])] == [
        block["id"] for _, block in iter_blocks(blocks)
    ]
