"""Resend failed runs and run events that were received but never run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from models.base import db, utcnow
from models.bundle import Bundle, BundleStatus
from models.inbox import InboxEvent, InboxStatus
from models.run import Run, RunStatus, RunTrigger
from workers import dispatch
from workers.pipeline import current_version_id

CHUNK = 50
MAX_RESEND = 5000


@dataclass(frozen=True)
class RunFilter:
    """Which failed runs to resend when no ids are given."""

    bundle_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def resend_failed_runs(account_id: int, run_ids: Sequence[int] | None = None,
                       run_filter: RunFilter | None = None) -> list[int]:
    """Re-run failed runs with their stored input on the current bundle version."""
    stmt = select(Run).where(Run.account_id == account_id,
                             Run.status == RunStatus.ERROR.value)
    if run_ids is not None:
        stmt = stmt.where(Run.id.in_(list(run_ids)))
    stmt = apply_filter(stmt, run_filter or RunFilter()).order_by(Run.id).limit(MAX_RESEND)
    originals = db.session.scalars(stmt).all()
    versions: dict[int, int | None] = {}
    copies = []
    for original in originals:
        if original.bundle_id not in versions:
            versions[original.bundle_id] = current_version_id(original.bundle_id)
        copies.append(Run(account_id=account_id, bundle_id=original.bundle_id,
                          bundle_version_id=versions[original.bundle_id],
                          trigger=RunTrigger.RESEND.value, resent_from_id=original.id,
                          inbox_event_id=original.inbox_event_id, item_key=original.item_key,
                          input=original.input, bytes_in=original.bytes_in,
                          status=RunStatus.QUEUED.value))
    db.session.add_all(copies)
    db.session.commit()
    new_ids = [run.id for run in copies]
    for start in range(0, len(new_ids), CHUNK):
        dispatch.enqueue_runs(new_ids[start:start + CHUNK])
    return new_ids


def apply_filter(stmt, run_filter: RunFilter):
    """Narrow a run query by bundle and time."""
    if run_filter.bundle_id is not None:
        stmt = stmt.where(Run.bundle_id == run_filter.bundle_id)
    if run_filter.since is not None:
        stmt = stmt.where(Run.created_at >= run_filter.since)
    if run_filter.until is not None:
        stmt = stmt.where(Run.created_at < run_filter.until)
    return stmt


def refresh_waiting_events(account_id: int, bundle_id: int | None = None) -> int:
    """Send on events that were received but never run, held ones of running bundles too."""
    running = select(Bundle.id).where(Bundle.account_id == account_id,
                                      Bundle.status == BundleStatus.RUNNING.value)
    if bundle_id is not None:
        running = running.where(Bundle.id == bundle_id)
    bundle_ids = list(db.session.scalars(running))
    if not bundle_ids:
        return 0
    result = db.session.execute(
        update(InboxEvent)
        .where(InboxEvent.bundle_id.in_(bundle_ids),
               InboxEvent.status.in_([InboxStatus.HELD.value, InboxStatus.RECEIVED.value]))
        .values(status=InboxStatus.RECEIVED.value, queued_at=utcnow())
        .execution_options(synchronize_session=False))
    db.session.commit()
    waiting = db.session.scalars(select(InboxEvent.bundle_id).where(
        InboxEvent.bundle_id.in_(bundle_ids),
        InboxEvent.status == InboxStatus.RECEIVED.value).distinct()).all()
    for waiting_bundle in waiting:
        dispatch.enqueue_drain(waiting_bundle, force=True)
    return result.rowcount or 0
