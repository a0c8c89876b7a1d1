"""`flask --app app bundles ...`: export bundles to JSON files and import them back."""

from __future__ import annotations

import json
from typing import IO, Any

import click
from flask.cli import AppGroup

from cli.users import find_account
from models.account import Account
from models.base import db
from models.bundle import Bundle
from models.bundle_transfer import export_bundle, import_bundle
from workers.engine.definition import DefinitionError

bundles = AppGroup("bundles", help="Export and import bundles as JSON.")


@bundles.command("export")
@click.argument("bundle_id", metavar="ID", type=int)
@click.option("--output", type=click.File("w", encoding="utf-8"), help="Write to FILE, not stdout.")
def export_command(bundle_id: int, output: IO[str] | None) -> None:
    """Print a bundle as JSON, with its connections named instead of numbered."""
    bundle = db.session.get(Bundle, bundle_id)
    if bundle is None:
        raise click.ClickException(f"No bundle with id {bundle_id}.")
    try:
        document = export_bundle(bundle)
    except DefinitionError as error:
        raise click.ClickException(f"Bundle {bundle_id} cannot be exported: {error}") from None
    text = json.dumps(document, indent=2, ensure_ascii=False)
    if output is None:
        click.echo(text)
        return
    output.write(text + "\n")
    click.echo(f"exported bundle={bundle.id} file={output.name}")


@bundles.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--account", "account_name", help="Workspace to import into.")
def import_command(file: IO[str], account_name: str | None) -> None:
    """Create a draft bundle from an exported JSON file."""
    data = read_json(file)
    account = import_target(account_name)
    try:
        bundle = import_bundle(account, data)
    except DefinitionError as error:
        raise click.ClickException(f"{file.name}: {error}") from None
    click.echo(f"imported bundle={bundle.id} name={bundle.name} version={bundle.current_version}")


def read_json(file: IO[str]) -> Any:
    """Parse a JSON file, turning any parse error into a one-line message."""
    try:
        return json.load(file)
    except json.JSONDecodeError as error:
        raise click.ClickException(
            f"{file.name} is not valid JSON: {error.msg} at line {error.lineno}, "
            f"column {error.colno}."
        ) from None
    except UnicodeDecodeError:
        raise click.ClickException(f"{file.name} is not UTF-8 text.") from None


def import_target(account_name: str | None) -> Account:
    """Return the workspace to import into, or explain why there is none."""
    account = find_account(account_name)
    if account is not None:
        return account
    if account_name:
        raise click.ClickException(f"No workspace named {account_name!r}.")
    raise click.ClickException("No workspace exists yet: create one with `flask users create`.")


COMMANDS = [bundles]
