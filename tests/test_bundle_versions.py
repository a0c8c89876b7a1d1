"""Saving bundle versions, exporting and importing bundles, and the `bundles` CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors import registry
from connectors.base import AuthKind, Connector, Field, PollResult, action, trigger
from models import Account, Bundle, BundleVersion, Connection, db
from models.bundle_transfer import export_bundle, import_bundle
from models.bundle_versions import (
    create_bundle,
    current_version,
    save_definition,
    version_by_number,
)
from workers.engine.definition import DefinitionError


class SalesCrm(Connector):
    """A connector that needs a connection."""

    key = "test_sales"
    name = "Test Sales"
    auth_kind = AuthKind.API_KEY

    @action(
        "update_contact", label="Update contact", inputs=(Field("email", "Email", required=True),)
    )
    def update_contact(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Pretend to update a contact."""
        return {}

    @trigger("new_rows", label="New rows")
    def new_rows(self, params: Mapping[str, Any], cursor: Any) -> PollResult:
        """Pretend to poll."""
        return PollResult([], {}, [])


@pytest.fixture(autouse=True)
def sales_connector() -> Iterator[type[Connector]]:
    """Register the test connector for one test, then remove it."""
    registry.register(SalesCrm)
    yield SalesCrm
    registry.REGISTRY.pop(SalesCrm.key, None)


@pytest.fixture
def account(make_account) -> Account:
    """Return the workspace most tests work in."""
    return make_account("Acme")


def add_connection(account: Account, name: str = "Sales CRM", service: str = "test_sales"):
    """Create a committed connection."""
    connection = Connection(account_id=account.id, name=name, service=service)
    db.session.add(connection)
    db.session.commit()
    return connection


def sales(block_id: str, connection: Any) -> dict[str, Any]:
    """Build a receiver of the test connector."""
    return {
        "id": block_id,
        "kind": "receiver",
        "service": "test_sales",
        "connection": connection,
        "action": "update_contact",
        "params": {"email": "{{source.email}}"},
    }


def hook(block_id: str = "hook", url: str = "https://example.com/hook") -> dict[str, Any]:
    """Build a connection-free HTTP request receiver."""
    return {
        "id": block_id,
        "kind": "receiver",
        "service": "http_request",
        "action": "request",
        "params": {"url": url},
    }


def definition(*blocks: dict[str, Any], kind: str = "webhook") -> dict[str, Any]:
    """Build a definition."""
    return {"format": 1, "source": {"kind": kind}, "blocks": list(blocks)}


def scenario(connection_id: int) -> dict[str, Any]:
    """Build the update-then-create scenario with one connection used twice."""
    conditions = {"any": [{"all": [{"field": "steps.update.result", "op": "equals", "value": 0}]}]}
    failed = {
        "id": "if_failed",
        "kind": "logic",
        "conditions": conditions,
        "then": [sales("create", connection_id), hook(url="https://x/{{steps.create.errors}}")],
    }
    return definition(sales("update", connection_id), failed)


def count(model: type) -> int:
    """Count the rows of a model."""
    return db.session.scalar(select(func.count()).select_from(model))


# --- versions -----------------------------------------------------------------------------


def test_a_new_bundle_is_a_draft_at_version_1(account, make_user) -> None:
    user = make_user(account=account)
    bundle = create_bundle(account, "Leads", definition(hook()), user)
    version = current_version(bundle)
    assert (bundle.status, bundle.current_version, bundle.trigger_kind) == ("draft", 1, "webhook")
    assert version.number == 1
    assert version.created_by_id == user.id
    assert version.account_id == account.id
    assert version.definition["blocks"][0]["title"] == ""  # stored normalised


def test_a_webhook_bundle_gets_an_unguessable_token(account) -> None:
    first = create_bundle(account, "A", definition())
    second = create_bundle(account, "B", definition())
    assert len(first.webhook_token) >= 32
    assert first.webhook_token != second.webhook_token
    assert create_bundle(account, "C", definition(kind="manual")).webhook_token is None


def test_every_save_adds_the_next_version(account) -> None:
    bundle = create_bundle(account, "Leads", definition())
    token = bundle.webhook_token
    second = save_definition(bundle, definition(hook()))
    third = save_definition(bundle, definition(hook(), kind="manual"))
    assert (second.number, third.number) == (2, 3)
    assert bundle.current_version == 3
    assert bundle.trigger_kind == "manual"
    assert bundle.webhook_token == token  # kept, so switching back keeps the same address
    assert current_version(bundle).id == third.id
    assert version_by_number(bundle, 1).definition["blocks"] == []
    assert version_by_number(bundle, 4) is None
    assert [version.number for version in bundle.versions] == [1, 2, 3]


def test_saving_an_unchanged_definition_adds_no_version(account) -> None:
    bundle = create_bundle(account, "Leads", definition(hook()))
    same = save_definition(bundle, definition(hook()))
    assert same.number == 1
    assert count(BundleVersion) == 1


def test_a_manual_bundle_switched_to_webhook_gets_a_token(account) -> None:
    bundle = create_bundle(account, "Leads", definition(kind="manual"))
    save_definition(bundle, definition())
    assert bundle.webhook_token
    assert bundle.trigger_kind == "webhook"


def test_an_invalid_definition_writes_nothing(account) -> None:
    bundle = create_bundle(account, "Leads", definition(hook()))
    with pytest.raises(DefinitionError) as caught:
        save_definition(bundle, definition(hook("bad id")))
    assert caught.value.path == "blocks[0].id"
    db.session.expire_all()
    assert bundle.current_version == 1
    assert count(BundleVersion) == 1


def test_an_invalid_new_bundle_is_not_created(account) -> None:
    with pytest.raises(DefinitionError):
        create_bundle(account, "Leads", {"source": {"kind": "webhook"}})
    assert count(Bundle) == 0


def test_a_connection_of_this_workspace_is_accepted(account) -> None:
    connection = add_connection(account)
    bundle = create_bundle(account, "Leads", scenario(connection.id))
    assert current_version(bundle).definition["blocks"][0]["connection"] == connection.id


def test_a_connection_of_another_workspace_is_refused(account, make_account) -> None:
    foreign = add_connection(make_account("Other"))
    bundle = create_bundle(account, "Leads", definition())
    with pytest.raises(DefinitionError) as caught:
        save_definition(bundle, definition(sales("update", foreign.id)))
    assert caught.value.path == "blocks[0].connection"
    assert caught.value.problem == f"connection {foreign.id} does not exist in this workspace"
    assert count(BundleVersion) == 1


def test_an_unknown_connection_is_refused(account) -> None:
    with pytest.raises(DefinitionError) as caught:
        create_bundle(account, "Leads", definition(sales("update", 999)))
    assert "connection 999 does not exist" in str(caught.value)


def test_a_connection_of_another_service_is_refused(account) -> None:
    telegram = add_connection(account, "Alerts", service="telegram")
    with pytest.raises(DefinitionError) as caught:
        create_bundle(account, "Leads", definition(sales("update", telegram.id)))
    assert "is a telegram connection" in caught.value.problem


# --- export and import --------------------------------------------------------------------


def test_export_names_connections_instead_of_ids(account) -> None:
    connection = add_connection(account, "Sales HelpCrunch")
    bundle = create_bundle(account, "Leads", scenario(connection.id), schedule={"times": ["09:00"]})
    exported = export_bundle(bundle)
    reference = {"name": "Sales HelpCrunch", "service": "test_sales"}
    assert exported["svyazka_bundle"] == 1
    assert (exported["name"], exported["schedule"]) == ("Leads", {"times": ["09:00"]})
    assert exported["definition"]["blocks"][0]["connection"] == reference
    assert exported["definition"]["blocks"][1]["then"][0]["connection"] == reference
    assert exported["definition"]["blocks"][1]["then"][1]["connection"] is None
    assert current_version(bundle).definition["blocks"][0]["connection"] == connection.id


def test_export_import_round_trip_is_exact(account) -> None:
    connection = add_connection(account)
    original = create_bundle(account, "Leads", scenario(connection.id), schedule={"x": 1})
    exported = export_bundle(original)
    copy = import_bundle(account, json.loads(json.dumps(exported)))
    assert copy.id != original.id
    assert (copy.status, copy.current_version, copy.schedule) == ("draft", 1, {"x": 1})
    assert current_version(copy).definition == current_version(original).definition
    assert export_bundle(copy) == exported


def test_import_binds_connections_of_the_receiving_workspace(account, make_account) -> None:
    source_connection = add_connection(account)
    exported = export_bundle(create_bundle(account, "Leads", scenario(source_connection.id)))
    other = make_account("Other")
    add_connection(other, "Sales CRM", service="telegram")  # same name, other service
    target = add_connection(other, "Sales CRM")
    imported = import_bundle(other, exported)
    assert imported.account_id == other.id
    assert current_version(imported).definition["blocks"][0]["connection"] == target.id


def test_a_polling_source_connection_round_trips(account, make_account) -> None:
    connection = add_connection(account, "Sheets")
    source = {
        "kind": "polling",
        "service": "test_sales",
        "connection": connection.id,
        "trigger": "new_rows",
        "backfill": True,
    }
    exported = export_bundle(create_bundle(account, "Rows", {"format": 1, "source": source}))
    assert exported["definition"]["source"]["connection"] == {
        "name": "Sheets",
        "service": "test_sales",
    }
    other = make_account("Other")
    target = add_connection(other, "Sheets")
    imported = import_bundle(other, exported)
    assert imported.trigger_kind == "polling"
    assert current_version(imported).definition["source"]["connection"] == target.id


def test_import_names_a_missing_connection(account) -> None:
    document = {
        "svyazka_bundle": 1,
        "name": "Leads",
        "definition": definition(sales("update", {"name": "Sales HelpCrunch", "service": "hc"})),
    }
    with pytest.raises(DefinitionError) as caught:
        import_bundle(account, document)
    assert caught.value.path == "blocks[0].connection"
    assert caught.value.problem == (
        "No connection named 'Sales HelpCrunch' (hc) in this workspace: create it first"
    )
    assert count(Bundle) == 0


def test_import_refuses_an_ambiguous_connection_name(account) -> None:
    add_connection(account)
    add_connection(account)
    reference = {"name": "Sales CRM", "service": "test_sales"}
    document = {"svyazka_bundle": 1, "name": "L", "definition": definition(sales("u", reference))}
    with pytest.raises(DefinitionError, match="Several connections are named 'Sales CRM'"):
        import_bundle(account, document)


def test_import_refuses_bare_connection_ids(account) -> None:
    connection = add_connection(account)
    document = {
        "svyazka_bundle": 1,
        "name": "L",
        "definition": definition(sales("u", connection.id)),
    }
    with pytest.raises(DefinitionError) as caught:
        import_bundle(account, document)
    assert caught.value.path == "blocks[0].connection"


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ([], ""),
        ({"name": "L", "definition": definition()}, "svyazka_bundle"),
        ({"svyazka_bundle": "1", "name": "L", "definition": definition()}, "svyazka_bundle"),
        ({"svyazka_bundle": 2, "name": "L", "definition": definition()}, "svyazka_bundle"),
        ({"svyazka_bundle": 1, "name": " ", "definition": definition()}, "name"),
        ({"svyazka_bundle": 1, "name": "L", "definition": []}, "definition"),
        ({"svyazka_bundle": 1, "name": "L"}, "definition"),
        (
            {"svyazka_bundle": 1, "name": "L", "schedule": [], "definition": definition()},
            "schedule",
        ),
        ({"svyazka_bundle": 1, "name": "L", "definition": definition(), "id": 5}, "id"),
        ({"svyazka_bundle": 1, "name": "L", "definition": {"format": 2}}, "format"),
    ],
)
def test_malformed_exports_are_refused(account, document: Any, path: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        import_bundle(account, document)
    assert caught.value.path == path


def test_a_newer_export_version_is_named(account) -> None:
    document = {"svyazka_bundle": 2, "name": "L", "definition": definition()}
    with pytest.raises(DefinitionError, match="made by a newer svyazka"):
        import_bundle(account, document)


def test_export_refuses_a_deleted_connection(account) -> None:
    connection = add_connection(account)
    bundle = create_bundle(account, "Leads", definition(sales("update", connection.id)))
    db.session.delete(connection)
    db.session.commit()
    with pytest.raises(DefinitionError) as caught:
        export_bundle(bundle)
    assert caught.value.path == "blocks[0].connection"


# --- the CLI ------------------------------------------------------------------------------


def run_cli(app, *args: str):
    """Run a `flask bundles ...` command."""
    return app.test_cli_runner().invoke(args=["bundles", *args])


def test_cli_export_prints_json(app, account) -> None:
    connection = add_connection(account, "Продажи")
    bundle = create_bundle(account, "Лиды", scenario(connection.id))
    result = run_cli(app, "export", str(bundle.id))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == export_bundle(bundle)
    assert "Продажи" in result.stdout  # not \u-escaped


def test_cli_export_to_a_file_and_import_it_back(app, account, tmp_path: Path) -> None:
    connection = add_connection(account)
    bundle = create_bundle(account, "Leads", scenario(connection.id))
    target = tmp_path / "leads.json"
    exported = run_cli(app, "export", str(bundle.id), "--output", str(target))
    assert exported.exit_code == 0, exported.output
    assert json.loads(target.read_text(encoding="utf-8")) == export_bundle(bundle)
    imported = run_cli(app, "import", str(target), "--account", "Acme")
    assert imported.exit_code == 0, imported.output
    copy = db.session.scalar(select(Bundle).where(Bundle.id != bundle.id))
    assert imported.stdout == f"imported bundle={copy.id} name=Leads version=1\n"
    assert current_version(copy).definition == current_version(bundle).definition


def test_cli_export_of_an_unknown_bundle_fails_cleanly(app) -> None:
    result = run_cli(app, "export", "404")
    assert result.exit_code != 0
    assert "No bundle with id 404." in result.output
    assert "Traceback" not in result.output


def test_cli_import_names_a_missing_connection(app, account, tmp_path: Path) -> None:
    reference = {"name": "Sales HelpCrunch", "service": "test_sales"}
    document = {"svyazka_bundle": 1, "name": "L", "definition": definition(sales("u", reference))}
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    result = run_cli(app, "import", str(path))
    assert result.exit_code != 0
    assert "No connection named 'Sales HelpCrunch' (test_sales) in this workspace" in (
        result.output
    )
    assert "Traceback" not in result.output
    assert count(Bundle) == 0


def test_cli_import_explains_malformed_json(app, account, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"svyazka_bundle": 1,\n "name": }', encoding="utf-8")
    result = run_cli(app, "import", str(path))
    assert result.exit_code != 0
    assert "broken.json is not valid JSON: Expecting value at line 2, column 10." in result.output
    assert "Traceback" not in result.output


def test_cli_import_needs_a_known_workspace(app, account, make_account, tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps({"svyazka_bundle": 1, "name": "L", "definition": definition()}))
    missing = run_cli(app, "import", str(path), "--account", "Nope")
    assert missing.exit_code != 0
    assert "No workspace named 'Nope'." in missing.output
    make_account("Second")
    several = run_cli(app, "import", str(path))
    assert several.exit_code != 0
    assert "Several workspaces exist" in several.output
