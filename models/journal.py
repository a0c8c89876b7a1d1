"""System events of the journal: starts, stops, blocks, connection problems."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import AccountOwned, TimestampMixin, db


class EventLevel(StrEnum):
    """How much a system event needs attention."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class JournalEvent(AccountOwned, TimestampMixin, db.Model):
    """A system event shown in the journal beside runs."""

    __table_args__ = (Index("ix_journal_event_account_created", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(48))  # e.g. bundle_blocked
    level: Mapped[str] = mapped_column(String(16), default=EventLevel.INFO.value)
    message: Mapped[str] = mapped_column(Text)
    bundle_id: Mapped[int | None] = mapped_column(
        ForeignKey("bundle.id", ondelete="CASCADE"), index=True
    )
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("connection.id", ondelete="SET NULL"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    data: Mapped[dict | None]


def record_event(account_id: int, kind: str, message: str, **fields) -> JournalEvent:
    """Add a system event to the session (the caller commits)."""
    event = JournalEvent(account_id=account_id, kind=kind, message=message, **fields)
    db.session.add(event)
    return event
