"""What follows a run: retries, failure counters, blocked bundles, chained bundles."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from models.base import db
from models.bundle import Bundle, BundleStatus, BundleVersion
from models.connection import Connection, ConnectionStatus
from models.journal import EventLevel, record_event
from models.run import Run, RunStatus
from workers.engine.executor import Execution

log = logging.getLogger("svyazka.worker")


def setting(name: str, default):
    """Read an engine setting from the app config."""
    return current_app.config.get(name, default)


def may_retry(run: Run) -> bool:
    """Tell whether a transient failure of this run may still be retried."""
    return run.attempt + 1 < int(setting("RETRY_MAX_ATTEMPTS", 5))


def retry_delay(attempt: int, retry_after: float | None) -> float:
    """Return seconds to wait: exponential backoff, never sooner than Retry-After."""
    base = float(setting("RETRY_BASE_SECONDS", 10))
    backoff = min(base * 2 ** attempt, float(setting("RETRY_MAX_SECONDS", 3600)))
    backoff *= random.uniform(1.0, 1.2)  # jitter keeps retries of a burst apart
    return max(backoff, retry_after or 0.0)


def finish_run(run: Run, bundle: Bundle, execution: Execution, seconds: float) -> None:
    """Store a run's outcome and apply its consequences (the caller commits)."""
    now = datetime.now(UTC)
    run.error = execution.error
    if execution.status == "retry":
        delay = retry_delay(run.attempt, execution.retry_after)
        run.status = RunStatus.RETRYING.value
        run.retry_at = now + timedelta(seconds=delay)
        run.attempt += 1
        log.info("run=%s state=retrying attempt=%s in_s=%.1f", run.id, run.attempt, delay)
        return
    run.status = execution.status
    run.retry_at = None
    run.finished_at = now
    run.duration_ms = round((now - run.started_at).total_seconds() * 1000)
    bundle.last_run_at = now
    for connection_id in dict.fromkeys(execution.auth_failures):
        deactivate_connection(connection_id, execution.error or "credentials were rejected")
    count_failure(bundle, failed=run.status == RunStatus.ERROR.value)
    log.info("run=%s bundle=%s state=%s ms=%s", run.id, bundle.id, run.status, run.duration_ms)


def count_failure(bundle: Bundle, *, failed: bool) -> None:
    """Track consecutive failed runs; block the bundle when there are too many."""
    if not failed:
        if bundle.consecutive_failures:
            bundle.consecutive_failures = 0
        return
    bundle.consecutive_failures = (bundle.consecutive_failures or 0) + 1
    limit = int(setting("BLOCK_AFTER_FAILURES", 10))
    if bundle.consecutive_failures >= limit and bundle.status == BundleStatus.RUNNING.value:
        block_bundle(bundle, f"{bundle.consecutive_failures} runs in a row failed")


def block_bundle(bundle: Bundle, reason: str) -> None:
    """Stop a bundle by the system, with the reason shown; a user unblocks it."""
    bundle.status = BundleStatus.BLOCKED.value
    bundle.status_reason = reason
    record_event(bundle.account_id, "bundle_blocked", f"Bundle blocked: {reason}",
                 level=EventLevel.ERROR.value, bundle_id=bundle.id)


def deactivate_connection(connection_id: int | None, reason: str) -> None:
    """Mark a connection inactive and block the running bundles that use it."""
    connection = db.session.get(Connection, connection_id) if connection_id else None
    if connection is None or connection.status == ConnectionStatus.INACTIVE.value:
        return
    connection.status = ConnectionStatus.INACTIVE.value
    connection.status_reason = reason
    record_event(connection.account_id, "connection_inactive",
                 f"Connection {connection.name!r} stopped working: {reason}",
                 level=EventLevel.ERROR.value, connection_id=connection.id)
    for bundle in bundles_using(connection):
        if bundle.status == BundleStatus.RUNNING.value:
            block_bundle(bundle, f"connection {connection.name!r} is inactive: reconnect it")


def bundles_using(connection: Connection) -> list[Bundle]:
    """Return the account's bundles whose current version uses the connection."""
    from workers.engine.definition import connection_ids

    rows = db.session.execute(
        select(Bundle, BundleVersion.definition)
        .join(BundleVersion, (BundleVersion.bundle_id == Bundle.id)
              & (BundleVersion.number == Bundle.current_version))
        .where(Bundle.account_id == connection.account_id)).all()
    return [bundle for bundle, definition in rows if connection.id in connection_ids(definition)]


def mark_crashed(run_id: int) -> None:
    """Record that the engine itself failed on a run, so it is visible and resendable."""
    db.session.execute(update(Run).where(Run.id == run_id).values(
        status=RunStatus.ERROR.value, error="Internal error while running; see worker logs",
        finished_at=datetime.now(UTC)))
    db.session.commit()


def after_runs(runs: Iterable[Run]) -> None:
    """Start the bundles chained after the bundles whose runs just finished."""
    from workers import dispatch

    finished = {run.bundle_id for run in runs if RunStatus(run.status).is_final}
    if not finished:
        return
    chained = db.session.scalars(select(Bundle.id).where(
        Bundle.after_bundle_id.in_(finished),
        Bundle.status == BundleStatus.RUNNING.value)).all()
    for bundle_id in chained:
        dispatch.enqueue_start(bundle_id, "chain")
