"""Change a bundle's auto-update: its schedule, its first slot and its end date."""

from __future__ import annotations

from datetime import UTC, datetime

from models.account import Account
from models.base import db, utcnow
from models.bundle import Bundle, BundleStatus
from workers.schedule import ScheduleError, first_slot, validate_schedule


def set_schedule(bundle: Bundle, data: object, *, now: datetime | None = None) -> dict:
    """Store a bundle's schedule in normal form with its first slot; the caller commits."""
    schedule = validate_schedule(data)
    after_id = schedule.get("bundle_id") if schedule.get("mode") == "after" else None
    if after_id is not None:
        check_after_target(bundle, after_id)
    timezone = db.session.get(Account, bundle.account_id).timezone
    bundle.schedule = schedule
    bundle.after_bundle_id = after_id
    bundle.next_run_at = first_slot(schedule, now or utcnow(), timezone)
    return schedule


def check_after_target(bundle: Bundle, after_id: int) -> None:
    """Refuse a bundle to run after that is itself, foreign, or would close a loop."""
    if after_id == bundle.id:
        raise ScheduleError("A bundle cannot run after itself.")
    target = db.session.get(Bundle, after_id)
    if (target is None or target.account_id != bundle.account_id
            or target.status == BundleStatus.DELETED.value):
        raise ScheduleError("The bundle to run after does not exist.")
    # Following the chain back from the target must not reach this bundle, or each
    # run would start the other forever.
    seen = {after_id}
    while target.after_bundle_id is not None and target.after_bundle_id not in seen:
        if target.after_bundle_id == bundle.id:
            raise ScheduleError(f"Bundle {target.name!r} already runs after this one.")
        seen.add(target.after_bundle_id)
        target = db.session.get(Bundle, target.after_bundle_id)
        if target is None:
            return


def set_end(bundle: Bundle, ends_at: datetime | None, *, now: datetime | None = None) -> None:
    """Store when the scheduler should pause the bundle; None runs it without end."""
    if ends_at is not None:
        if ends_at.tzinfo is None:
            raise ScheduleError("The end date needs a time zone.")
        if ends_at <= (now or utcnow()):
            raise ScheduleError("The end date has already passed.")
        ends_at = ends_at.astimezone(UTC)
    bundle.ends_at = ends_at
