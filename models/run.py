"""Runs and their steps: the journal's record of what each bundle did."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import AccountOwned, TimestampMixin, db


class RunStatus(StrEnum):
    """Where a run is; the last three are final."""

    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCESS = "success"
    ERROR = "error"
    FILTERED = "filtered"  # a filter stopped the item: not an error

    @property
    def is_final(self) -> bool:
        """Tell whether the run has ended."""
        return self in (RunStatus.SUCCESS, RunStatus.ERROR, RunStatus.FILTERED)


class RunTrigger(StrEnum):
    """What started a run."""

    WEBHOOK = "webhook"
    POLL = "poll"
    SCHEDULE = "schedule"
    MANUAL = "manual"
    CHAIN = "chain"  # "only after bundle X"
    RESEND = "resend"


class Run(AccountOwned, TimestampMixin, db.Model):
    """One item going through one bundle version."""

    __table_args__ = (
        Index("ix_run_account_created", "account_id", "created_at"),
        Index("ix_run_account_bundle_created", "account_id", "bundle_id", "created_at"),
        Index("ix_run_account_status_created", "account_id", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bundle_id: Mapped[int] = mapped_column(ForeignKey("bundle.id", ondelete="CASCADE"))
    bundle_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("bundle_version.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.QUEUED.value)
    trigger: Mapped[str] = mapped_column(String(16))
    inbox_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbox_event.id", ondelete="SET NULL"), index=True
    )
    resent_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("run.id", ondelete="SET NULL"), index=True
    )
    item_key: Mapped[str | None] = mapped_column(String(200))
    input: Mapped[dict | None]
    error: Mapped[str | None] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(default=0)
    # When a run waits to retry a transiently failed block, the scheduler re-enqueues it then.
    retry_at: Mapped[datetime | None] = mapped_column(index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None]
    bytes_in: Mapped[int] = mapped_column(default=0)
    bytes_out: Mapped[int] = mapped_column(default=0)

    steps: Mapped[list[RunStep]] = relationship(
        back_populates="run", order_by="RunStep.position", cascade="all, delete-orphan"
    )


class RunStep(AccountOwned, db.Model):
    """What one block did in one run: mapped input, output, error, timing."""

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("run.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    block_id: Mapped[str] = mapped_column(String(64))
    block_kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    input: Mapped[dict | None]
    output: Mapped[dict | None]
    error: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[list | None]  # e.g. mapping paths that were missing
    started_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None]
    bytes_out: Mapped[int] = mapped_column(default=0)

    run: Mapped[Run] = relationship(back_populates="steps")
