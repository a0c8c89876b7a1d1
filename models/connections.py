"""Connection operations shared by the web pages and the workers: create, edit, delete."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select

from connectors.base import AuthKind, Connector
from core.crypto import SecretsError
from models.account import User
from models.base import db
from models.bundle import Bundle, BundleStatus, BundleVersion
from models.connection import Connection, ConnectionStatus
from models.inbox_intake import forget_target
from models.journal import EventLevel, record_event

# Bundles the system switches off when their connection goes away.
SWITCHED_OFF = (BundleStatus.RUNNING.value, BundleStatus.BLOCKED.value)


def default_name(account_id: int, cls: type[Connector]) -> str:
    """Return "<Service> N", the first such name the account does not use yet."""
    taken = set(db.session.scalars(select(Connection.name).where(
        Connection.account_id == account_id, Connection.service == cls.key)))
    number = len(taken) + 1
    while f"{cls.name} {number}" in taken:
        number += 1
    return f"{cls.name} {number}"


def create_connection(account_id: int, cls: type[Connector], name: str,
                      config: Mapping[str, Any], secret_values: Mapping[str, Any],
                      user: User | None = None) -> Connection:
    """Create a connection with sealed secrets (and a webhook address when needed); commit."""
    connection = Connection(account_id=account_id, service=cls.key, name=name.strip(),
                            config=dict(config))
    connection.write_secrets(dict(secret_values))
    if cls.auth_kind == AuthKind.WEBHOOK:
        connection.webhook_token = secrets.token_urlsafe(24)
    db.session.add(connection)
    db.session.flush()
    record_event(account_id, "connection_created", f"Connection {connection.name!r} added",
                 connection_id=connection.id, user_id=user.id if user else None)
    db.session.commit()
    return connection


def update_connection(connection: Connection, name: str, config: Mapping[str, Any],
                      entered_secrets: Mapping[str, Any]) -> None:
    """Store a new name and settings; a secret left blank keeps its stored value; commit."""
    connection.name = name.strip()
    connection.config = {**(connection.config or {}), **config}
    stored = connection.read_secrets()
    changed = {key: value for key, value in entered_secrets.items() if value not in (None, "")}
    if changed:
        connection.write_secrets({**stored, **changed})
    db.session.commit()


def rename_connection(connection: Connection, name: str) -> None:
    """Give a connection a new name; commit."""
    connection.name = name.strip()
    db.session.commit()


def store_tokens(connection: Connection, tokens: Mapping[str, Any],
                 user: User | None = None) -> None:
    """Replace an OAuth connection's tokens after a reconnect and make it active; commit."""
    connection.write_secrets(dict(tokens))
    was_inactive = not connection.is_active
    connection.status = ConnectionStatus.ACTIVE.value
    connection.status_reason = None
    if was_inactive:
        record_event(connection.account_id, "connection_reconnected",
                     f"Connection {connection.name!r} reconnected",
                     connection_id=connection.id, user_id=user.id if user else None)
    db.session.commit()


def delete_connection(connection: Connection, user: User | None = None) -> list[Bundle]:
    """Delete a connection for good, switch off the bundles using it; return those; commit."""
    bundles = bundles_using(connection.account_id, [connection.id])[connection.id]
    reason = f"connection {connection.name!r} was deleted"
    user_id = user.id if user else None
    for bundle in bundles:
        switched_off = bundle.status in SWITCHED_OFF
        if switched_off:
            bundle.status = BundleStatus.PAUSED.value
            bundle.next_run_at = None
        bundle.status_reason = reason
        kind, verb = ("bundle_paused", "paused") if switched_off else (
            "bundle_connection_lost", "lost a connection")
        record_event(bundle.account_id, kind, f"Bundle {bundle.name!r} {verb}: {reason}",
                     level=EventLevel.WARNING.value, bundle_id=bundle.id, user_id=user_id)
    record_event(connection.account_id, "connection_deleted",
                 f"Connection {connection.name!r} deleted", level=EventLevel.WARNING.value,
                 user_id=user_id, data={"service": connection.service, "name": connection.name,
                                        "bundles": [bundle.id for bundle in bundles]})
    token = connection.webhook_token
    db.session.delete(connection)
    db.session.commit()
    # Webhook intake caches tokens for a moment; make it see the change at once.
    for bundle in bundles:
        forget_target(bundle.webhook_token)
    forget_target(token)
    return [bundle for bundle in bundles if bundle.status == BundleStatus.PAUSED.value]


def bundles_using(account_id: int, connection_ids: Iterable[int]) -> dict[int, list[Bundle]]:
    """Map each connection id to the bundles (not deleted) whose current version uses it."""
    from workers.engine.definition import connection_ids as ids_in

    wanted = set(connection_ids)
    found: dict[int, list[Bundle]] = {connection_id: [] for connection_id in wanted}
    if not wanted:
        return found
    rows = db.session.execute(
        select(Bundle, BundleVersion.definition)
        .join(BundleVersion, (BundleVersion.bundle_id == Bundle.id)
              & (BundleVersion.number == Bundle.current_version))
        .where(Bundle.account_id == account_id,
               Bundle.status != BundleStatus.DELETED.value)
        .order_by(func.lower(Bundle.name)))
    for bundle, definition in rows:
        for connection_id in ids_in(definition or {}) & wanted:
            found[connection_id].append(bundle)
    return found


def metadata_summary(metadata: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    """Summarise refreshed metadata as (key, count) pairs; plain values stay as they are."""
    summary = []
    for key, value in (metadata or {}).items():
        counted = len(value) if isinstance(value, list | dict) else value
        summary.append((str(key), counted))
    return summary


def connection_details(connection: Connection,
                       cls: type[Connector] | None) -> list[tuple[str, Any, bool]]:
    """List (label, value, is_secret) for the settings page; secrets only say they are stored."""
    if cls is None:
        return []
    try:
        stored = connection.read_secrets()
    except SecretsError:
        stored = {}
    rows: list[tuple[str, Any, bool]] = []
    for item in cls.auth_fields:
        secret = item.type == "secret"
        value = bool(stored.get(item.name)) if secret else stored.get(item.name)
        rows.append((item.label, value, secret))
    if cls.auth_kind == AuthKind.OAUTH2 and not cls.auth_fields:
        rows.append(("OAuth tokens", bool(stored.get("access_token")), True))
    for item in cls.config_fields:
        rows.append((item.label, (connection.config or {}).get(item.name, item.default), False))
    return rows
