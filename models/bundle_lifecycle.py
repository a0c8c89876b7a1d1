"""Start, pause, unblock, delete and restore bundles, each with a journal event."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from models.account import User
from models.base import db, utcnow
from models.bundle import Bundle, BundleStatus
from models.inbox_intake import forget_target
from models.journal import record_event


class LifecycleError(ValueError):
    """A status change that cannot be made; the message is shown as is."""


def start_bundle(bundle: Bundle, user: User | None = None) -> None:
    """Switch a bundle on (also unblocks it): webhooks run, schedules fire."""
    if bundle.status == BundleStatus.DELETED.value:
        raise LifecycleError(_l("Restore the bundle from the bin first."))
    if not bundle.current_version:
        raise LifecycleError(_l("Save the bundle's settings before starting it."))
    was_blocked = bundle.status == BundleStatus.BLOCKED.value
    bundle.status = BundleStatus.RUNNING.value
    bundle.status_reason = None
    bundle.consecutive_failures = 0
    # The scheduler arms the first slot, applying the five-minute rule for fixed times.
    bundle.next_run_at = None
    kind = "bundle_unblocked" if was_blocked else "bundle_started"
    change(bundle, kind, f"Bundle {bundle.name!r} started", user)


def pause_bundle(bundle: Bundle, user: User | None = None) -> None:
    """Pause a bundle: incoming webhook events are kept, not run."""
    if bundle.status not in (BundleStatus.RUNNING.value, BundleStatus.BLOCKED.value):
        raise LifecycleError(_l("Only a running or blocked bundle can be paused."))
    bundle.status = BundleStatus.PAUSED.value
    bundle.next_run_at = None
    change(bundle, "bundle_paused", f"Bundle {bundle.name!r} paused", user)


def delete_bundle(bundle: Bundle, user: User | None = None) -> None:
    """Move a bundle to the bin; it can be restored from there."""
    bundle.status = BundleStatus.DELETED.value
    bundle.deleted_at = utcnow()
    bundle.next_run_at = None
    change(bundle, "bundle_deleted", f"Bundle {bundle.name!r} deleted", user)


def restore_bundle(bundle: Bundle, user: User | None = None) -> None:
    """Bring a bundle back from the bin, paused."""
    if bundle.status != BundleStatus.DELETED.value:
        raise LifecycleError(_l("Only a deleted bundle can be restored."))
    bundle.status = BundleStatus.PAUSED.value
    bundle.deleted_at = None
    change(bundle, "bundle_restored", f"Bundle {bundle.name!r} restored", user)


def change(bundle: Bundle, kind: str, message: str, user: User | None) -> None:
    """Record the change, commit, and make webhook intake see it at once."""
    record_event(bundle.account_id, kind, message, bundle_id=bundle.id,
                 user_id=user.id if user else None)
    db.session.commit()
    forget_target(bundle.webhook_token)


def run_now(bundle: Bundle, user: User | None = None) -> bool:
    """Force one run of the bundle now (the seed's arrow button); False if Redis is down."""
    from workers import dispatch

    if bundle.status == BundleStatus.DELETED.value:
        raise LifecycleError(_l("Restore the bundle from the bin first."))
    if not bundle.current_version:
        raise LifecycleError(_l("Save the bundle's settings before starting it."))
    record_event(bundle.account_id, "bundle_forced", f"Bundle {bundle.name!r} run by hand",
                 bundle_id=bundle.id, user_id=user.id if user else None)
    db.session.commit()
    return dispatch.enqueue_start(bundle.id, "manual")
