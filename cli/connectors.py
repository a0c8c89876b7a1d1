"""`flask --app app connectors list`: the services this instance can connect to."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from connectors.registry import all_connectors

connectors = AppGroup("connectors", help="List the registered connectors.")


@connectors.command("list")
def list_connectors() -> None:
    """Print each connector: key, auth kind, triggers and actions."""
    for cls in all_connectors():
        triggers = ",".join(cls.triggers) or "-"
        actions = ",".join(cls.actions) or "-"
        click.echo(f"{cls.key}\tauth={cls.auth_kind.value}\ttriggers={triggers}\t"
                   f"actions={actions}")


COMMANDS = [connectors]
