"""The scheduler: due slots, retries, the inbox sweeper, stuck runs, end dates, retention.

One process leads at a time (a Redis lock); only the leader ticks. Every slot also moves
with a compare-and-swap UPDATE, so even two processes ticking at once start it only once.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta

import redis
from flask import current_app
from sqlalchemy import Row, and_, delete, or_, select, update

from core.redisconn import get_redis
from models.account import Account
from models.base import db, utcnow
from models.bundle import Bundle, BundleStatus
from models.inbox import InboxEvent, InboxStatus
from models.journal import EventLevel, JournalEvent, record_event
from models.run import Run, RunStatus
from workers import dispatch
from workers.schedule import (
    TIMED_MODES,
    ScheduleError,
    first_slot,
    next_slot,
    validate_schedule,
)

log = logging.getLogger("svyazka.scheduler")

LEADER_KEY = "svyazka:scheduler:leader"
LEADER_TTL_MS = 10_000
# Set when a run is handed to a worker; while it lives the run is not "stuck".
DISPATCHED_KEY = "svyazka:run-dispatched:{run_id}"
RETENTION_DONE_KEY = "svyazka:scheduler:retention-done"
RETENTION_PAUSE_SECONDS = 3600
BATCH = 500  # rows one part handles per tick; the rest waits for the next tick
ENQUEUE_CHUNK = 50
DELETE_CHUNK = 1000
# Retention deletes at most this many chunks per tick, so the loop keeps its pace.
DELETE_CHUNKS_PER_TICK = 20
STOP_POLL_SECONDS = 0.1
END_REASON = "end date reached"

RENEW_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


def setting(name: str, default: float) -> float:
    """Read a scheduler setting from the app config."""
    return float(current_app.config.get(name, default))


class LeaderLock:
    """The Redis lock that makes one scheduler process the leader."""

    def __init__(self, connection: Callable[[], redis.Redis]) -> None:
        self.connection = connection
        self.owner = secrets.token_hex(8)

    def acquire_or_renew(self) -> bool:
        """Keep the lock if this process holds it, else take it if free; tell who leads."""
        client = self.connection()
        # Renewing first also reclaims our own lock after a failed call, without waiting
        # for it to expire.
        if client.eval(RENEW_SCRIPT, 1, LEADER_KEY, self.owner, LEADER_TTL_MS):
            return True
        return bool(client.set(LEADER_KEY, self.owner, nx=True, px=LEADER_TTL_MS))

    def release(self) -> None:
        """Give the lock up if this process still holds it."""
        self.connection().eval(RELEASE_SCRIPT, 1, LEADER_KEY, self.owner)


class FailureLog:
    """Log the first failure of a streak and the recovery, not every failure between."""

    def __init__(self) -> None:
        self.failing: set[str] = set()

    def failed(self, part: str, error: BaseException) -> None:
        """Note a failure; only the first of a streak is logged, with its traceback."""
        if part not in self.failing:
            self.failing.add(part)
            # A Redis outage needs no traceback; anything else may be a bug.
            traceback = None if isinstance(error, dispatch.REDIS_ERRORS) else error
            log.error("scheduler state=failing part=%s error=%r", part, error,
                      exc_info=traceback)

    def succeeded(self, part: str) -> None:
        """Note a success; the end of a failure streak is logged."""
        if part in self.failing:
            self.failing.discard(part)
            log.info("scheduler state=recovered part=%s", part)


class Scheduler:
    """Run the periodic work of svyazka, as the leader among scheduler processes."""

    def __init__(self, connection: redis.Redis | None = None) -> None:
        self._connection = connection
        self.lock = LeaderLock(self.redis_client)
        self.failures = FailureLog()
        self.role = ""
        self.stopping = False
        self.last_stuck_check: datetime | None = None

    def redis_client(self) -> redis.Redis:
        """Return the Redis client: the one given, else the app's."""
        return self._connection or get_redis()

    def tick(self, now: datetime | None = None) -> dict[str, int]:
        """Do one round of every periodic job; return how much each part did."""
        now = now or utcnow()
        parts: dict[str, Callable[[datetime], int]] = {
            "ended": end_bundles,
            "slots": fire_due_slots,
            "armed": arm_schedules,
            "retries": lambda at: dispatch_retries(at, self.redis_client()),
            "swept": sweep_inbox,
            "recovered": self._recover_stuck_runs,
            "deleted": lambda at: apply_retention(at, self.redis_client()),
        }
        return {name: self._run_part(name, part, now) for name, part in parts.items()}

    def _run_part(self, name: str, part: Callable[[datetime], int], now: datetime) -> int:
        """Run one part; its failure is logged and never stops the others."""
        try:
            done = part(now)
        except Exception as error:  # a database or Redis failure must not end the loop
            db.session.rollback()
            self.failures.failed(name, error)
            return 0
        self.failures.succeeded(name)
        return done

    def _recover_stuck_runs(self, now: datetime) -> int:
        """Look for stuck runs once per STUCK_CHECK_SECONDS: the query scans the runs."""
        every = timedelta(seconds=setting("STUCK_CHECK_SECONDS", 60))
        if self.last_stuck_check is not None and now - self.last_stuck_check < every:
            return 0
        self.last_stuck_check = now
        return recover_stuck_runs(now, self.redis_client())

    def run_once(self) -> dict[str, int] | None:
        """Tick once holding the lock; None when another scheduler leads."""
        if not self.lock.acquire_or_renew():
            return None
        try:
            return self.tick()
        finally:
            self.lock.release()

    def run_forever(self, interval: float = 1.0) -> None:
        """Tick every `interval` seconds while leading, until stop() is called."""
        log.info("scheduler state=started owner=%s interval=%s", self.lock.owner, interval)
        try:
            while not self.stopping:
                started = time.monotonic()
                if self._lead():
                    self.tick()
                    db.session.remove()  # a fresh session each tick sees others' writes
                self._sleep(interval - (time.monotonic() - started))
        finally:
            self._resign()

    def stop(self) -> None:
        """Ask run_forever to return after the current tick (safe in a signal handler)."""
        self.stopping = True

    def _lead(self) -> bool:
        """Take or keep the leader lock; a Redis failure means not leading."""
        try:
            leading = self.lock.acquire_or_renew()
        except dispatch.REDIS_ERRORS as error:
            self.failures.failed("redis", error)
            leading = False
        else:
            self.failures.succeeded("redis")
        role = "leader" if leading else "follower"
        if role != self.role:
            self.role = role
            log.info("scheduler state=%s owner=%s", role, self.lock.owner)
        return leading

    def _sleep(self, seconds: float) -> None:
        """Sleep in short steps so a stop request is noticed at once."""
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, STOP_POLL_SECONDS))

    def _resign(self) -> None:
        """Release the lock so another scheduler leads at once, not after its expiry."""
        try:
            self.lock.release()
        except dispatch.REDIS_ERRORS as error:
            log.warning("scheduler state=release-failed error=%r", error)
        log.info("scheduler state=stopped owner=%s", self.lock.owner)


def timed_schedule(raw: object) -> dict | None:
    """Return a stored schedule when it has slots (interval or times), else None."""
    try:
        schedule = validate_schedule(raw)
    except ScheduleError:
        return None
    return schedule if schedule.get("mode") in TIMED_MODES else None


def move_slot(bundle_id: int, old: datetime | None, new: datetime | None) -> bool:
    """Compare-and-swap a bundle's next_run_at; True when this call moved it."""
    current = Bundle.next_run_at.is_(None) if old is None else Bundle.next_run_at == old
    result = db.session.execute(
        update(Bundle).where(Bundle.id == bundle_id, current).values(next_run_at=new)
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


def fire_due_slots(now: datetime) -> int:
    """Start the running bundles whose slot has come, each slot exactly once."""
    rows = db.session.execute(
        select(Bundle.id, Bundle.schedule, Bundle.next_run_at, Account.timezone)
        .join(Account, Account.id == Bundle.account_id)
        .where(Bundle.status == BundleStatus.RUNNING.value, Bundle.next_run_at <= now)
        .order_by(Bundle.next_run_at).limit(BATCH)).all()
    return sum(fire_slot(row, now) for row in rows)


def fire_slot(row: Row, now: datetime) -> bool:
    """Move one due slot forward, then enqueue its start; undo the move if Redis is down."""
    schedule = timed_schedule(row.schedule)
    if schedule is None:
        # The schedule was switched off or changed to "after": the slot is stale.
        move_slot(row.id, row.next_run_at, None)
        return False
    following = next_slot(schedule, row.next_run_at, now, row.timezone)
    if not move_slot(row.id, row.next_run_at, following):
        return False  # another scheduler took this slot
    slot = row.next_run_at.isoformat()
    if not dispatch.enqueue_start(row.id, "schedule", slot):
        move_slot(row.id, following, row.next_run_at)
        log.warning("scheduler slot bundle=%s at=%s state=kept-for-retry", row.id, slot)
        return False
    log.info("scheduler slot bundle=%s at=%s next=%s", row.id, slot, following.isoformat())
    return True


def arm_schedules(now: datetime) -> int:
    """Give running bundles with a timed schedule but no slot their first slot."""
    rows = db.session.execute(
        select(Bundle.id, Bundle.schedule, Account.timezone)
        .join(Account, Account.id == Bundle.account_id)
        .where(Bundle.status == BundleStatus.RUNNING.value, Bundle.next_run_at.is_(None),
               Bundle.schedule["mode"].as_string().in_(TIMED_MODES))
        .order_by(Bundle.id).limit(BATCH)).all()
    armed = 0
    for row in rows:
        schedule = timed_schedule(row.schedule)
        slot = first_slot(schedule, now, row.timezone) if schedule else None
        if slot is not None and move_slot(row.id, None, slot):
            log.info("scheduler armed bundle=%s at=%s", row.id, slot.isoformat())
            armed += 1
    return armed


def chunks(ids: Sequence[int], size: int = ENQUEUE_CHUNK) -> Iterator[list[int]]:
    """Split ids into lists of at most `size`."""
    for start in range(0, len(ids), size):
        yield list(ids[start:start + size])


def mark_dispatched(connection: redis.Redis, run_ids: Sequence[int], *,
                    only_new: bool) -> list[int]:
    """Mark runs as handed to a worker; return the ids marked (all, or the unmarked ones)."""
    seconds = int(setting("STUCK_RUN_SECONDS", 900))
    pipe = connection.pipeline(transaction=False)
    for run_id in run_ids:
        pipe.set(DISPATCHED_KEY.format(run_id=run_id), 1, nx=only_new, ex=seconds)
    return [run_id for run_id, marked in zip(run_ids, pipe.execute(), strict=True) if marked]


def unmark_dispatched(connection: redis.Redis, run_ids: Sequence[int]) -> None:
    """Forget dispatch marks of runs whose enqueue failed, so they are tried again."""
    # Should Redis fail here too, the marks expire by themselves.
    with contextlib.suppress(*dispatch.REDIS_ERRORS):
        connection.delete(*(DISPATCHED_KEY.format(run_id=run_id) for run_id in run_ids))


def dispatch_retries(now: datetime, connection: redis.Redis) -> int:
    """Claim the runs whose retry time has come and enqueue them; return how many."""
    due = db.session.scalars(
        select(Run.id).where(Run.status == RunStatus.RETRYING.value, Run.retry_at <= now)
        .order_by(Run.retry_at).limit(BATCH)).all()
    if not due:
        return 0
    # One guarded statement: a run is claimed by one scheduler, even if two tick at once.
    claimed = db.session.scalars(
        update(Run).where(Run.status == RunStatus.RETRYING.value, Run.retry_at <= now,
                          Run.id.in_(due))
        .values(status=RunStatus.QUEUED.value, retry_at=None).returning(Run.id)
        .execution_options(synchronize_session=False)).all()
    db.session.commit()
    sent = sum(send_retries(chunk, now, connection) for chunk in chunks(sorted(claimed)))
    if sent:
        log.info("scheduler retries enqueued=%d", sent)
    return sent


def send_retries(run_ids: list[int], now: datetime, connection: redis.Redis) -> int:
    """Enqueue claimed retries; when Redis fails, make them due again."""
    try:
        # Marked first: a claimed run is "queued" with an old created_at and would
        # otherwise look stuck at once.
        mark_dispatched(connection, run_ids, only_new=False)
        sent = dispatch.enqueue_runs(run_ids)
    except dispatch.REDIS_ERRORS:
        sent = False
    if sent:
        return len(run_ids)
    db.session.execute(
        update(Run).where(Run.id.in_(run_ids), Run.status == RunStatus.QUEUED.value)
        .values(status=RunStatus.RETRYING.value, retry_at=now)
        .execution_options(synchronize_session=False))
    db.session.commit()
    log.warning("scheduler retries=%s state=kept-for-retry", run_ids)
    return 0


def sweep_inbox(now: datetime) -> int:
    """Ask for drains of bundles whose received events were never handed to a worker."""
    cutoff = now - timedelta(seconds=setting("SWEEP_AFTER_SECONDS", 10))
    bundle_ids = db.session.scalars(
        select(InboxEvent.bundle_id).distinct()
        .where(InboxEvent.status == InboxStatus.RECEIVED.value,
               InboxEvent.received_at <= cutoff, InboxEvent.bundle_id.is_not(None))
        .limit(BATCH)).all()
    db.session.commit()
    # The drain's pending marker keeps this from adding a job per tick.
    swept = [bundle_id for bundle_id in bundle_ids if dispatch.enqueue_drain(bundle_id)]
    if swept:
        log.debug("scheduler sweep bundles=%s", swept)
    return len(swept)


def recover_stuck_runs(now: datetime, connection: redis.Redis) -> int:
    """Re-enqueue runs left running or queued by a killed worker, once per STUCK_RUN_SECONDS."""
    cutoff = now - timedelta(seconds=setting("STUCK_RUN_SECONDS", 900))
    stuck = db.session.scalars(
        select(Run.id).where(or_(
            and_(Run.status == RunStatus.RUNNING.value, Run.started_at <= cutoff),
            and_(Run.status == RunStatus.QUEUED.value, Run.created_at <= cutoff)))
        .order_by(Run.id).limit(BATCH)).all()
    db.session.commit()
    if not stuck:
        return 0
    # The mark expires after STUCK_RUN_SECONDS: a run still stuck by then is sent again.
    fresh = mark_dispatched(connection, stuck, only_new=True)
    recovered = 0
    for chunk in chunks(fresh):
        if dispatch.enqueue_runs(chunk):
            recovered += len(chunk)
        else:
            unmark_dispatched(connection, chunk)
    if recovered:
        log.warning("scheduler recovered runs=%d first=%s", recovered, fresh[0])
    return recovered


def end_bundles(now: datetime) -> int:
    """Pause running bundles whose end date has passed, with a journal event."""
    rows = db.session.execute(
        select(Bundle.id, Bundle.account_id, Bundle.ends_at)
        .where(Bundle.status == BundleStatus.RUNNING.value, Bundle.ends_at <= now)
        .limit(BATCH)).all()
    return sum(end_bundle(row) for row in rows)


def end_bundle(row: Row) -> bool:
    """Pause one bundle unless someone changed its status first; True when paused."""
    # next_run_at is cleared so a bundle switched on again gets a fresh first slot.
    paused = db.session.execute(
        update(Bundle).where(Bundle.id == row.id, Bundle.status == BundleStatus.RUNNING.value)
        .values(status=BundleStatus.PAUSED.value, status_reason=END_REASON, next_run_at=None)
        .execution_options(synchronize_session=False)).rowcount == 1
    if paused:
        ends_at = row.ends_at.isoformat()
        record_event(row.account_id, "bundle_ended",
                     f"Bundle paused: its end date ({row.ends_at:%Y-%m-%d %H:%M} UTC) passed",
                     level=EventLevel.INFO.value, bundle_id=row.id, data={"ends_at": ends_at})
        log.info("scheduler ended bundle=%s ends_at=%s", row.id, ends_at)
    db.session.commit()
    return paused


RETAINED = ((Run, Run.created_at), (JournalEvent, JournalEvent.created_at),
            (InboxEvent, InboxEvent.received_at))


def apply_retention(now: datetime, connection: redis.Redis) -> int:
    """Delete history older than RETENTION_DAYS, a pass at most once an hour."""
    if connection.exists(RETENTION_DONE_KEY):
        return 0
    cutoff = now - timedelta(days=setting("RETENTION_DAYS", 62))
    deleted = 0
    for _ in range(DELETE_CHUNKS_PER_TICK):
        removed = delete_old_chunk(cutoff)
        if removed == 0:
            # Remembered in Redis, so a new leader does not start another pass at once.
            connection.set(RETENTION_DONE_KEY, now.isoformat(), ex=RETENTION_PAUSE_SECONDS)
            break
        deleted += removed
    if deleted:
        log.info("scheduler retention deleted=%d before=%s", deleted, cutoff.isoformat())
    return deleted


def delete_old_chunk(cutoff: datetime) -> int:
    """Delete one chunk of rows older than the cutoff, from the first table that has any."""
    for model, column in RETAINED:
        ids = db.session.scalars(
            select(model.id).where(column < cutoff).order_by(model.id).limit(DELETE_CHUNK)).all()
        if ids:
            # Run steps go with their runs (ON DELETE CASCADE).
            db.session.execute(delete(model).where(model.id.in_(ids))
                               .execution_options(synchronize_session=False))
            db.session.commit()
            return len(ids)
    db.session.commit()
    return 0
