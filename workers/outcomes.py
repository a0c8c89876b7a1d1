"""What follows a run: retries, failure counters, blocked bundles, chained bundles."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

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


def finish_run(run: Run, execution: Execution, tally: BundleTally,
               started_at: datetime) -> dict[str, Any]:
    """Return a run's outcome columns and apply its consequences (the caller stores them)."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {"error": execution.error, "started_at": started_at}
    if execution.status == "retry":
        delay = retry_delay(run.attempt, execution.retry_after)
        values.update(status=RunStatus.RETRYING.value, attempt=run.attempt + 1,
                      retry_at=now + timedelta(seconds=delay))
        log.info("run=%s state=retrying attempt=%s in_s=%.1f", run.id, run.attempt + 1, delay)
        return values
    values.update(status=execution.status, retry_at=None, finished_at=now,
                  duration_ms=round((now - started_at).total_seconds() * 1000))
    for connection_id in dict.fromkeys(execution.auth_failures):
        deactivate_connection(connection_id, execution.error or "credentials were rejected")
    tally.record(run.bundle_id, run.account_id, failed=execution.status == RunStatus.ERROR.value,
                 at=now)
    log.info("run=%s bundle=%s state=%s ms=%s", run.id, run.bundle_id, execution.status,
             values["duration_ms"])
    return values


BUNDLES = Bundle.__table__


class BundleTally:
    """Keep bundles' failure streaks and last run times without rewriting them after each run.

    A failed run bumps the streak in its own transaction with one atomic UPDATE (two workers
    running the same bundle never lose a count) and blocks the bundle at the limit. Successes
    and the last run time are written once per batch by flush(); a failure after a success in
    the same batch starts the streak again at 1.
    """

    def __init__(self) -> None:
        self.last_run: dict[int, datetime] = {}
        self.reset_due: set[int] = set()

    def record(self, bundle_id: int, account_id: int, *, failed: bool, at: datetime) -> None:
        """Note a finished run of the bundle; count a failure now."""
        self.last_run[bundle_id] = at
        if not failed:
            self.reset_due.add(bundle_id)
            return
        streak = self._count_failure(bundle_id, restart=bundle_id in self.reset_due)
        self.reset_due.discard(bundle_id)
        if streak >= int(setting("BLOCK_AFTER_FAILURES", 10)):
            block_bundle_by_id(bundle_id, account_id, f"{streak} runs in a row failed")

    @staticmethod
    def _count_failure(bundle_id: int, *, restart: bool) -> int:
        streak = 1 if restart else BUNDLES.c.consecutive_failures + 1
        return db.session.execute(
            update(BUNDLES).where(BUNDLES.c.id == bundle_id)
            .values(consecutive_failures=streak)
            .returning(BUNDLES.c.consecutive_failures)).scalar_one()

    def flush(self) -> None:
        """Write the last run times and the streaks that successes ended; commit."""
        for bundle_id, at in self.last_run.items():
            values: dict = {"last_run_at": at}
            if bundle_id in self.reset_due:
                values["consecutive_failures"] = 0
            db.session.execute(update(BUNDLES).where(BUNDLES.c.id == bundle_id).values(values))
        if self.last_run:
            db.session.commit()
        self.last_run.clear()
        self.reset_due.clear()


def block_bundle_by_id(bundle_id: int, account_id: int, reason: str) -> bool:
    """Stop a running bundle by the system, with the reason shown; a user unblocks it."""
    blocked = db.session.execute(
        update(BUNDLES).where(BUNDLES.c.id == bundle_id,
                              BUNDLES.c.status == BundleStatus.RUNNING.value)
        .values(status=BundleStatus.BLOCKED.value, status_reason=reason)).rowcount
    if blocked:
        record_event(account_id, "bundle_blocked", f"Bundle blocked: {reason}",
                     level=EventLevel.ERROR.value, bundle_id=bundle_id)
    return bool(blocked)


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
        block_bundle_by_id(bundle.id, bundle.account_id,
                           f"connection {connection.name!r} is inactive: reconnect it")


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
