"""The inbox (register): every webhook request received, stored before it is answered."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import AccountOwned, db, utcnow


class InboxStatus(StrEnum):
    """Where a received request is on its way to a run."""

    RECEIVED = "received"  # stored, not yet handed to Redis
    QUEUED = "queued"  # handed to Redis
    PROCESSED = "processed"  # turned into a run
    DUPLICATE = "duplicate"  # idempotency key seen within the window
    HELD = "held"  # arrived while the bundle was paused; can be run later
    SAMPLE = "sample"  # a test request for a webhook connection


class InboxEvent(AccountOwned, db.Model):
    """One raw incoming request, kept so nothing is lost."""

    # Every index is written by each webhook request: keep only those queries need. Account
    # lookups use account_received; events of webhook connections are few, so their index
    # leaves bundle events out.
    __table_args__ = (
        Index("ix_inbox_event_status_received", "status", "received_at"),
        Index("ix_inbox_event_account_received", "account_id", "received_at"),
        Index("ix_inbox_event_bundle_idem", "bundle_id", "idempotency_key"),
        Index("ix_inbox_event_connection_id", "connection_id",
              sqlite_where=text("connection_id IS NOT NULL"),
              postgresql_where=text("connection_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    bundle_id: Mapped[int | None] = mapped_column(ForeignKey("bundle.id", ondelete="CASCADE"))
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("connection.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default=InboxStatus.RECEIVED.value)
    method: Mapped[str] = mapped_column(String(8))
    headers: Mapped[dict]  # auth secrets removed before storing
    query: Mapped[dict]
    content_type: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    payload: Mapped[dict | None]  # the body parsed into fields, as bundles see it
    size: Mapped[int] = mapped_column(default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # Set by the worker that takes the event, in the same statement that marks it processed.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None]
