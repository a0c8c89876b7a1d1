"""Hand work to the RQ workers; when Redis is down, say so and let the sweeper catch up."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import redis
from rq import Queue

from core.redisconn import get_redis

log = logging.getLogger("svyazka.dispatch")

QUEUE_NAME = "default"
DRAIN_PENDING_KEY = "svyazka:drain-pending:{bundle_id}"
# A pending marker outlives a lost job by at most this long; the sweeper then re-enqueues.
DRAIN_PENDING_SECONDS = 60
JOB_TIMEOUT_SECONDS = 600
REDIS_ERRORS = (redis.exceptions.RedisError, OSError)


def queue(connection: redis.Redis | None = None) -> Queue:
    """Return the queue every svyazka job goes to."""
    return Queue(QUEUE_NAME, connection=connection or get_redis())


def enqueue_drain(bundle_id: int, *, force: bool = False,
                  connection: redis.Redis | None = None) -> bool:
    """Ask a worker to run the bundle's waiting inbox events; False when Redis is down."""
    key = DRAIN_PENDING_KEY.format(bundle_id=bundle_id)
    try:
        connection = connection or get_redis()
        # One waiting drain job per bundle is enough: it takes every event stored so far.
        if not connection.set(key, 1, nx=True, ex=DRAIN_PENDING_SECONDS) and not force:
            return True
        _enqueue("workers.jobs.drain_inbox", bundle_id, connection=connection)
        return True
    except REDIS_ERRORS as error:
        log.warning("dispatch=drain bundle=%s state=redis-down error=%s", bundle_id, error)
        return False


def clear_drain_pending(bundle_id: int) -> None:
    """Forget the pending marker as a drain job starts, so new events enqueue anew."""
    get_redis().delete(DRAIN_PENDING_KEY.format(bundle_id=bundle_id))


def enqueue_runs(run_ids: Sequence[int]) -> bool:
    """Ask a worker to execute stored runs (retries, resends, recovered runs)."""
    return _try_enqueue("workers.jobs.execute_runs", list(run_ids))


def enqueue_poll(bundle_id: int, slot: str) -> bool:
    """Ask a worker to poll a bundle's trigger for the given schedule slot."""
    return _try_enqueue("workers.jobs.poll_bundle", bundle_id, slot)


def enqueue_start(bundle_id: int, trigger: str, slot: str = "") -> bool:
    """Ask a worker to start a bundle once (schedule, manual, chain)."""
    return _try_enqueue("workers.jobs.start_bundle", bundle_id, trigger, slot)


def _try_enqueue(function: str, *args) -> bool:
    try:
        _enqueue(function, *args)
        return True
    except REDIS_ERRORS as error:
        log.warning("dispatch=%s args=%s state=redis-down error=%s", function, args, error)
        return False


def _enqueue(function: str, *args, connection: redis.Redis | None = None) -> None:
    queue(connection).enqueue(function, *args, job_timeout=JOB_TIMEOUT_SECONDS, result_ttl=0,
                              failure_ttl=7 * 24 * 3600)
