"""`flask --app app users ...`: manage users from the shell."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from models.account import Account, Role
from models.base import db
from models.users import UserError, add_user, create_account_with_owner

users = AppGroup("users", help="Create and list users.")


def read_password(from_stdin: bool) -> str:
    """Read a password from stdin or an interactive prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def check_password_strength(password: str) -> None:
    """Apply the same password rule as the web forms."""
    from flask import current_app

    minimum = current_app.config["MIN_PASSWORD_LENGTH"]
    if len(password) < minimum:
        raise click.ClickException(f"Use a password of at least {minimum} characters.")


@users.command("create")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.OWNER.value)
@click.option("--account", "account_name", help="Workspace to add to (created if new).")
def create_user(email: str, password_stdin: bool, role: str, account_name: str | None) -> None:
    """Create a user; on a fresh install this also creates the workspace."""
    password = read_password(password_stdin)
    check_password_strength(password)
    account = find_account(account_name)
    if account is None and role != Role.OWNER.value:
        raise click.ClickException("A new workspace needs an owner: use --role owner.")
    try:
        if account is None:
            user = create_account_with_owner(account_name or "My workspace", email, password)
        else:
            user = add_user(account, email, password, Role(role))
    except UserError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"created user={user.email} role={user.role} account={user.account.name}")


def find_account(name: str | None) -> Account | None:
    """Return the named workspace, or the only one when no name is given."""
    stmt = select(Account).order_by(Account.id)
    if name:
        return db.session.scalar(stmt.where(Account.name == name))
    accounts = db.session.scalars(stmt.limit(2)).all()
    if len(accounts) > 1:
        raise click.ClickException("Several workspaces exist: name one with --account.")
    return accounts[0] if accounts else None


@users.command("list")
def list_users() -> None:
    """Print every user with their workspace and role."""
    for account in db.session.scalars(select(Account).order_by(Account.id)):
        for user in account.users:
            state = "active" if user.active else "inactive"
            click.echo(f"{account.name}\t{user.email}\t{user.role}\t{state}")


COMMANDS = [users]
