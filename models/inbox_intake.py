"""Store incoming webhook requests: find the target, de-duplicate, keep or hold."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection as DbConnection
from sqlalchemy import insert, select, update

from models.base import db
from models.bundle import Bundle, BundleStatus, BundleVersion
from models.connection import Connection
from models.inbox import InboxEvent, InboxStatus

INSERT_EVENT = insert(InboxEvent.__table__).returning(InboxEvent.__table__.c.id)

# Token lookups are cached briefly: a webhook sender may post hundreds of times a second.
TARGET_CACHE_SECONDS = 2.0
_target_cache: dict[str, tuple[float, HookTarget | None]] = {}


@dataclass(frozen=True)
class HookTarget:
    """Where a webhook token leads: a bundle's source or a webhook connection."""

    account_id: int
    bundle_id: int | None = None
    connection_id: int | None = None
    status: str = ""
    idempotency: dict | None = None
    window_minutes: int = 1440

    @property
    def gone(self) -> bool:
        """Tell whether the bundle behind the token was deleted."""
        return self.status == BundleStatus.DELETED.value


def find_target(token: str) -> HookTarget | None:
    """Return what a webhook token points at, or None."""
    now = time.monotonic()
    cached = _target_cache.get(token)
    if cached and cached[0] > now:
        return cached[1]
    target = load_target(token)
    if len(_target_cache) > 10_000:
        _target_cache.clear()
    _target_cache[token] = (now + TARGET_CACHE_SECONDS, target)
    return target


def forget_target(token: str | None) -> None:
    """Drop a cached token after its bundle changed (status, definition)."""
    _target_cache.pop(token or "", None)


def load_target(token: str) -> HookTarget | None:
    """Look a token up in bundles, then in webhook connections."""
    row = db.session.execute(
        select(Bundle.id, Bundle.account_id, Bundle.status, BundleVersion.definition)
        .outerjoin(BundleVersion, (BundleVersion.bundle_id == Bundle.id)
                   & (BundleVersion.number == Bundle.current_version))
        .where(Bundle.webhook_token == token)).first()
    if row is not None:
        source = (row.definition or {}).get("source", {})
        return HookTarget(account_id=row.account_id, bundle_id=row.id, status=row.status,
                          idempotency=source.get("idempotency"),
                          window_minutes=int(source.get("idempotency_window_minutes", 1440)))
    connection = db.session.execute(select(Connection.id, Connection.account_id)
                                    .where(Connection.webhook_token == token)).first()
    if connection is not None:
        return HookTarget(account_id=connection.account_id, connection_id=connection.id)
    return None


def store_event(target: HookTarget, parsed) -> tuple[int, str]:
    """Commit the request as an inbox event; return its id and status."""
    key = idempotency_key(target, parsed)
    # Core on one pooled connection: no ORM unit of work, no reload of the new row's id.
    with db.engine.begin() as conn:
        status = event_status(conn, target, parsed, key)
        event_id = conn.execute(INSERT_EVENT, event_row(target, parsed, status, key)).scalar_one()
        if target.connection_id is not None:
            remember_sample(conn, target.connection_id, parsed.payload)
    return event_id, status


def event_row(target: HookTarget, parsed, status: str, key: str | None) -> dict[str, Any]:
    """Return the column values of a new inbox event (received_at takes its default)."""
    return {"account_id": target.account_id, "bundle_id": target.bundle_id,
            "connection_id": target.connection_id, "status": status, "method": parsed.method,
            "headers": parsed.headers, "query": parsed.query,
            "content_type": parsed.content_type, "body": parsed.body,
            "payload": parsed.payload, "size": len(parsed.body), "idempotency_key": key}


def event_status(conn: DbConnection, target: HookTarget, parsed, key: str | None) -> str:
    """Decide whether an event runs now, waits for the bundle, or is only a sample."""
    if target.bundle_id is None or is_test_request(parsed.payload):
        return InboxStatus.SAMPLE.value
    if key is not None and seen_recently(conn, target, key):
        return InboxStatus.DUPLICATE.value
    if target.status == BundleStatus.RUNNING.value:
        return InboxStatus.RECEIVED.value
    return InboxStatus.HELD.value


def is_test_request(payload: Any) -> bool:
    """Recognise the test request Tilda sends when its webhook is added (test=test)."""
    return isinstance(payload, dict) and payload.get("test") == "test" and len(payload) <= 2


def idempotency_key(target: HookTarget, parsed) -> str | None:
    """Read the bundle's idempotency key from a header or a payload path."""
    rule = target.idempotency or {}
    value = None
    if rule.get("header"):
        wanted = rule["header"].lower()
        value = next((v for k, v in parsed.headers.items() if k.lower() == wanted), None)
    elif rule.get("path"):
        from workers.engine.mapping import resolve_path

        found, value = resolve_path(rule["path"], {"source": parsed.payload})
        value = value if found else None
    return None if value in (None, "") else str(value)[:200]


def seen_recently(conn: DbConnection, target: HookTarget, key: str) -> bool:
    """Tell whether the key arrived for this bundle within the idempotency window."""
    since = datetime.now(UTC) - timedelta(minutes=target.window_minutes)
    return conn.scalar(select(InboxEvent.id).where(
        InboxEvent.bundle_id == target.bundle_id, InboxEvent.idempotency_key == key,
        InboxEvent.received_at >= since,
        InboxEvent.status != InboxStatus.DUPLICATE.value).limit(1)) is not None


def remember_sample(conn: DbConnection, connection_id: int, payload: Any) -> None:
    """Keep the latest request of a webhook connection: its fields feed the mapping picker."""
    sample = payload if isinstance(payload, dict) else {"items": payload}
    conn.execute(update(Connection.__table__).where(Connection.__table__.c.id == connection_id)
                 .values(sample=sample))
