"""Jobs the workers run."""

from __future__ import annotations

import logging

from flask import current_app

log = logging.getLogger("svyazka.worker")


def ping() -> str:
    """Answer "pong"; fails outside the app context, so a result proves a worker has one."""
    log.info("job=ping app=%s", current_app.name)
    return "pong"


def drain_inbox(bundle_id: int) -> int:
    """Run a batch of a bundle's received webhook events; fan out when more are waiting."""
    from workers import dispatch, pipeline

    dispatch.clear_drain_pending(bundle_id)
    batch_size = int(current_app.config.get("DRAIN_BATCH_SIZE", 50))
    run_ids = pipeline.claim_inbox_batch(bundle_id, batch_size)
    if len(run_ids) == batch_size:
        # More may be waiting: let another worker take the next batch meanwhile.
        dispatch.enqueue_drain(bundle_id)
    pipeline.process_runs(run_ids)
    log.info("job=drain_inbox bundle=%s runs=%d", bundle_id, len(run_ids))
    return len(run_ids)


def execute_runs(run_ids: list[int]) -> int:
    """Execute stored runs: retries, resends and runs recovered after a crash."""
    from workers import pipeline

    executed = pipeline.process_runs(run_ids)
    return len(executed)


def poll_bundle(bundle_id: int, slot: str = "") -> int:
    """Poll a bundle's trigger for new items and run them."""
    from workers import polling

    return polling.poll_bundle(bundle_id, slot)


def start_bundle(bundle_id: int, trigger: str, slot: str = "") -> int:
    """Start a bundle once: poll its trigger, run its waiting events, or run it empty."""
    from workers import polling

    return polling.start_bundle(bundle_id, trigger, slot)


def test_connection(connection_id: int) -> dict:
    """Call the service with a connection's credentials; store and return the outcome."""
    from workers import connection_jobs

    return connection_jobs.test_connection(connection_id)


def refresh_connection(connection_id: int) -> dict:
    """Re-read a connection's lists and fields from its service."""
    from workers import connection_jobs

    return connection_jobs.refresh_connection(connection_id)
