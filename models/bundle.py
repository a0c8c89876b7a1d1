"""Bundles, their groups and their versioned definitions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import AccountOwned, TimestampMixin, db, utcnow


class BundleStatus(StrEnum):
    """Lifecycle of a bundle, as the bundles list filters it."""

    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    BLOCKED = "blocked"  # stopped by the system; a user unblocks it
    DELETED = "deleted"  # in the bin; can be restored


class TriggerKind(StrEnum):
    """Where a bundle's data comes from."""

    WEBHOOK = "webhook"
    POLLING = "polling"
    SCHEDULE = "schedule"
    MANUAL = "manual"


class BundleGroup(AccountOwned, TimestampMixin, db.Model):
    """A user folder of bundles; deleting it leaves its bundles in place."""

    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))


class Bundle(AccountOwned, TimestampMixin, db.Model):
    """One automation: a source followed by blocks."""

    __table_args__ = (Index("ix_bundle_account_status", "account_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=BundleStatus.DRAFT.value)
    status_reason: Mapped[str | None] = mapped_column(Text)
    trigger_kind: Mapped[str] = mapped_column(String(16), default=TriggerKind.MANUAL.value)
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("bundle_group.id", ondelete="SET NULL"), index=True
    )
    # Bulk export/import bundles get their own filter ("data migration").
    is_migration: Mapped[bool] = mapped_column(default=False)
    current_version: Mapped[int] = mapped_column(default=0)
    webhook_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Auto-update (workers/schedule.py): {"mode": "interval", "minutes": 5},
    # {"mode": "times", "times": ["09:00"]}, {"mode": "after", "bundle_id": 7} or {}.
    schedule: Mapped[dict] = mapped_column(default=dict)
    # "Only after bundle X": a finished run of X starts this bundle.
    after_bundle_id: Mapped[int | None] = mapped_column(
        ForeignKey("bundle.id", ondelete="SET NULL"), index=True
    )
    ends_at: Mapped[datetime | None]
    next_run_at: Mapped[datetime | None] = mapped_column(index=True)
    last_run_at: Mapped[datetime | None]
    # Polling position, advanced only after the new items are stored as runs.
    cursor: Mapped[dict | None]
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    empty_polls: Mapped[int] = mapped_column(default=0)
    last_polled_at: Mapped[datetime | None]
    installed_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("installed_template.id", ondelete="SET NULL"), index=True
    )
    deleted_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    group: Mapped[BundleGroup | None] = relationship()
    versions: Mapped[list[BundleVersion]] = relationship(
        back_populates="bundle", order_by="BundleVersion.number"
    )


class BundleVersion(AccountOwned, TimestampMixin, db.Model):
    """An immutable saved definition; every run records the version it ran."""

    __table_args__ = (UniqueConstraint("bundle_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bundle_id: Mapped[int] = mapped_column(ForeignKey("bundle.id", ondelete="CASCADE"))
    number: Mapped[int]
    definition: Mapped[dict]
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )

    bundle: Mapped[Bundle] = relationship(back_populates="versions")


class SeenItem(db.Model):
    """An item id a polling trigger has already turned into a run."""

    __table_args__ = (UniqueConstraint("bundle_id", "item_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bundle_id: Mapped[int] = mapped_column(ForeignKey("bundle.id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(String(200))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
