"""Polling triggers and one-off starts: new items become runs before the cursor moves."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select

from connectors.errors import AuthError, ConnectorError, RetryableError
from models.base import db
from models.bundle import Bundle, BundleStatus, BundleVersion, SeenItem, TriggerKind
from models.journal import EventLevel, record_event
from models.run import RunTrigger
from workers import dispatch, outcomes, pipeline
from workers.services import ConnectorPool

log = logging.getLogger("svyazka.worker")

STARTABLE = (BundleStatus.RUNNING.value,)


def start_bundle(bundle_id: int, trigger: str, slot: str = "") -> int:
    """Start a bundle once, whatever its source; return how many runs it made."""
    bundle = db.session.get(Bundle, bundle_id)
    if bundle is None or (trigger != RunTrigger.MANUAL.value and bundle.status not in STARTABLE):
        return 0
    if bundle.trigger_kind == TriggerKind.POLLING.value:
        return poll_bundle(bundle_id, slot, trigger=RunTrigger(trigger))
    if bundle.trigger_kind == TriggerKind.WEBHOOK.value:
        dispatch.enqueue_drain(bundle_id, force=True)
        return 0
    item = {"started_at": datetime.now(UTC).isoformat(), "trigger": trigger, "slot": slot}
    run_ids = pipeline.create_runs(bundle, [item], RunTrigger(trigger))
    db.session.commit()
    pipeline.process_runs(run_ids)
    return len(run_ids)


def poll_bundle(bundle_id: int, slot: str = "",
                trigger: RunTrigger = RunTrigger.POLL) -> int:
    """Fetch new items of a polling bundle, store them as runs, then execute them."""
    bundle = db.session.get(Bundle, bundle_id)
    source = current_source(bundle)
    if source is None or source.get("kind") != TriggerKind.POLLING.value:
        return 0
    pool = ConnectorPool(bundle.account_id)
    try:
        connector = pool.connector(source["service"], source.get("connection"))
        result = connector.poll(source["trigger"], source.get("params", {}), bundle.cursor)
    except (AuthError, RetryableError, ConnectorError) as error:
        pool.save_renewed_secrets()
        report_poll_failure(bundle, source, error)
        return 0
    pool.save_renewed_secrets()  # committed with the new items
    run_ids = store_new_items(bundle, source, result, trigger)
    pipeline.process_runs(run_ids)
    log.info("job=poll bundle=%s slot=%s new=%d", bundle_id, slot, len(run_ids))
    return len(run_ids)


def current_source(bundle: Bundle | None) -> dict | None:
    """Return the source block of the bundle's current version."""
    if bundle is None:
        return None
    definition = db.session.scalar(select(BundleVersion.definition).where(
        BundleVersion.bundle_id == bundle.id, BundleVersion.number == bundle.current_version))
    return (definition or {}).get("source")


def store_new_items(bundle: Bundle, source: dict, result, trigger: RunTrigger) -> list[int]:
    """Store unseen items as runs and advance the cursor, in one transaction."""
    keys = [str(key) for key in result.item_keys]
    seen = set(db.session.scalars(select(SeenItem.item_key).where(
        SeenItem.bundle_id == bundle.id, SeenItem.item_key.in_(keys)))) if keys else set()
    fresh = [(item, key) for item, key in zip(result.items, keys, strict=True)
             if key not in seen]
    first_poll = bundle.cursor is None
    db.session.add_all(SeenItem(bundle_id=bundle.id, item_key=key) for _, key in fresh)
    run_ids: list[int] = []
    # On the first poll the existing items are history, unless the user asked for them.
    if fresh and (not first_poll or source.get("backfill")):
        run_ids = pipeline.create_runs(bundle, [item for item, _ in fresh], trigger,
                                       [key for _, key in fresh])
    bundle.cursor = result.cursor or {}
    bundle.last_polled_at = datetime.now(UTC)
    if not run_ids:
        bundle.empty_polls = (bundle.empty_polls or 0) + 1
    db.session.commit()
    return run_ids


def report_poll_failure(bundle: Bundle, source: dict, error: ConnectorError) -> None:
    """Journal a failed poll; rejected credentials deactivate the connection."""
    if isinstance(error, AuthError):
        outcomes.deactivate_connection(source.get("connection"), error.message)
    level = EventLevel.WARNING if isinstance(error, RetryableError) else EventLevel.ERROR
    record_event(bundle.account_id, "poll_failed", f"Polling failed: {error.message}",
                 level=level.value, bundle_id=bundle.id)
    db.session.commit()
