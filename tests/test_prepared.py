"""Prepared statements run on plain DB-API cursors with SQLAlchemy's own conversions."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, insert, select

from models import InboxEvent, db
from models.prepared import Prepared

EVENTS = InboxEvent.__table__


def test_insert_converts_json_and_dates_like_the_orm(app, make_account):
    account = make_account()
    prepared = Prepared.compile(insert(EVENTS).returning(EVENTS.c.id), db.engine.dialect,
                                column_keys=["account_id", "status", "method", "headers",
                                             "query", "payload", "size", "received_at"])
    when = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=UTC)
    connection = db.engine.raw_connection()
    try:
        cursor = prepared.execute(connection.cursor(), {
            "account_id": account.id, "status": "received", "method": "POST",
            "headers": {"X-A": "1"}, "query": {}, "payload": {"n": [1, "два"]}, "size": 3,
            "received_at": when})
        event_id = cursor.fetchone()[0]
        connection.commit()
    finally:
        connection.close()
    event = db.session.get(InboxEvent, event_id)
    assert event.payload == {"n": [1, "два"]} and event.headers == {"X-A": "1"}
    assert event.received_at == when and event.account_id == account.id


def test_literals_and_limits_of_the_statement_are_bound_too(app, make_bundle):
    bundle = make_bundle({"format": 1, "source": {"kind": "webhook"}, "blocks": []})
    for status in ("duplicate", "received", "received"):
        db.session.add(InboxEvent(account_id=bundle.account_id, bundle_id=bundle.id,
                                  status=status, method="POST", headers={}, query={}))
    db.session.commit()
    prepared = Prepared.compile(
        select(EVENTS.c.status).where(EVENTS.c.bundle_id == bindparam("bundle_id"),
                                      EVENTS.c.status != "duplicate").limit(1),
        db.engine.dialect)
    connection = db.engine.raw_connection()
    try:
        rows = prepared.execute(connection.cursor(), {"bundle_id": bundle.id}).fetchall()
    finally:
        connection.close()
    assert [tuple(row) for row in rows] == [("received",)]
