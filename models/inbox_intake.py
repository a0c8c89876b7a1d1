"""Store incoming webhook requests: find the target, de-duplicate, keep or hold."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection as DbConnection
from sqlalchemy import Engine, bindparam, insert, select, update

from models.base import utcnow
from models.bundle import Bundle, BundleStatus, BundleVersion
from models.connection import Connection
from models.inbox import InboxEvent, InboxStatus
from models.prepared import Prepared
from models.write_gate import gate_or_nothing, write_gate_for

EVENTS = InboxEvent.__table__
EVENT_COLUMNS = ("received_at", "account_id", "bundle_id", "connection_id", "status", "method",
                 "headers", "query", "content_type", "body", "payload", "size",
                 "idempotency_key")

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


def find_target(engine: Engine, token: str) -> HookTarget | None:
    """Return what a webhook token points at, or None."""
    now = time.monotonic()
    cached = _target_cache.get(token)
    if cached and cached[0] > now:
        return cached[1]
    with engine.connect() as conn:
        target = load_target(conn, token)
    if len(_target_cache) > 10_000:
        _target_cache.clear()
    _target_cache[token] = (now + TARGET_CACHE_SECONDS, target)
    return target


def forget_target(token: str | None) -> None:
    """Drop a cached token after its bundle changed (status, definition)."""
    _target_cache.pop(token or "", None)


def load_target(conn: DbConnection, token: str) -> HookTarget | None:
    """Look a token up in bundles, then in webhook connections."""
    row = conn.execute(
        select(Bundle.id, Bundle.account_id, Bundle.status, BundleVersion.definition)
        .outerjoin(BundleVersion, (BundleVersion.bundle_id == Bundle.id)
                   & (BundleVersion.number == Bundle.current_version))
        .where(Bundle.webhook_token == token)).first()
    if row is not None:
        source = (row.definition or {}).get("source", {})
        return HookTarget(account_id=row.account_id, bundle_id=row.id, status=row.status,
                          idempotency=source.get("idempotency"),
                          window_minutes=int(source.get("idempotency_window_minutes", 1440)))
    connection = conn.execute(select(Connection.id, Connection.account_id)
                              .where(Connection.webhook_token == token)).first()
    if connection is not None:
        return HookTarget(account_id=connection.account_id, connection_id=connection.id)
    return None


class InboxWriter:
    """Commit incoming requests as inbox events with plain DB-API calls (the hot path)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.gate = write_gate_for(engine)
        dialect = engine.dialect
        self.insert = Prepared.compile(
            insert(EVENTS).returning(EVENTS.c.id), dialect, column_keys=list(EVENT_COLUMNS))
        self.seen = Prepared.compile(
            select(EVENTS.c.id).where(
                EVENTS.c.bundle_id == bindparam("bundle_id"),
                EVENTS.c.idempotency_key == bindparam("key"),
                EVENTS.c.received_at >= bindparam("since", type_=EVENTS.c.received_at.type),
                EVENTS.c.status != InboxStatus.DUPLICATE.value).limit(1), dialect)
        self.sample = Prepared.compile(
            update(Connection.__table__).where(Connection.__table__.c.id == bindparam("id_"))
            .values(sample=bindparam("sample", type_=Connection.__table__.c.sample.type)),
            dialect)

    def store(self, target: HookTarget, parsed) -> tuple[int, str]:
        """Commit the request as an inbox event; return its id and status."""
        key = idempotency_key(target, parsed)
        with gate_or_nothing(self.gate):
            return self._store(target, parsed, key)

    def _store(self, target: HookTarget, parsed, key: str | None) -> tuple[int, str]:
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            status = self.event_status(cursor, target, parsed, key)
            row = event_row(target, parsed, status, key)
            event_id = self.insert.execute(cursor, row).fetchone()[0]
            if target.connection_id is not None:
                sample = parsed.payload if isinstance(parsed.payload, dict) else {
                    "items": parsed.payload}
                self.sample.execute(cursor, {"id_": target.connection_id, "sample": sample})
            cursor.close()
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.close()  # back to the pool
        return event_id, status

    def event_status(self, cursor, target: HookTarget, parsed, key: str | None) -> str:
        """Decide whether an event runs now, waits for the bundle, or is only a sample."""
        if target.bundle_id is None or is_test_request(parsed.payload):
            return InboxStatus.SAMPLE.value
        if key is not None and self.seen_recently(cursor, target, key):
            return InboxStatus.DUPLICATE.value
        if target.status == BundleStatus.RUNNING.value:
            return InboxStatus.RECEIVED.value
        return InboxStatus.HELD.value

    def seen_recently(self, cursor, target: HookTarget, key: str) -> bool:
        """Tell whether the key arrived for this bundle within the idempotency window."""
        since = datetime.now(UTC) - timedelta(minutes=target.window_minutes)
        found = self.seen.execute(cursor, {"bundle_id": target.bundle_id, "key": key,
                                           "since": since}).fetchone()
        return found is not None


def event_row(target: HookTarget, parsed, status: str, key: str | None) -> dict[str, Any]:
    """Return the column values of a new inbox event."""
    return {"received_at": utcnow(), "account_id": target.account_id,
            "bundle_id": target.bundle_id, "connection_id": target.connection_id,
            "status": status, "method": parsed.method, "headers": parsed.headers,
            "query": parsed.query, "content_type": parsed.content_type, "body": parsed.body,
            "payload": parsed.payload, "size": len(parsed.body), "idempotency_key": key}


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
