"""The scheduler's parts on a real database, with the dispatch functions recorded."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from models import Bundle, InboxEvent, JournalEvent, Run, RunStep, db
from models.schedules import set_end, set_schedule
from workers import scheduler as scheduler_module
from workers.schedule import ScheduleError
from workers.scheduler import Scheduler, fire_slot, recover_stuck_runs

NOW = datetime(2024, 5, 14, 12, 0, tzinfo=UTC)
EVERY_5 = {"mode": "interval", "minutes": 5}


class FakeRedis:
    """The few Redis commands the scheduler's parts use, kept in a dict (no expiry)."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}
        self.lock = threading.Lock()

    def set(self, key, value, nx=False, ex=None, px=None):
        with self.lock:
            if nx and key in self.values:
                return None
            self.values[key] = value
            return True

    def exists(self, key) -> int:
        return int(key in self.values)

    def delete(self, *keys) -> int:
        return sum(self.values.pop(key, None) is not None for key in keys)

    def pipeline(self, transaction=True) -> FakePipeline:
        return FakePipeline(self)


class FakePipeline:
    """Queue set() calls and run them on execute()."""

    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis
        self.calls: list[tuple[tuple, dict]] = []

    def set(self, *args, **kwargs) -> None:
        self.calls.append((args, kwargs))

    def execute(self) -> list:
        return [self.redis.set(*args, **kwargs) for args, kwargs in self.calls]


class Dispatched:
    """Recorded dispatch calls; `succeed = False` makes them act as if Redis were down."""

    def __init__(self) -> None:
        self.starts: list[tuple] = []
        self.runs: list[list[int]] = []
        self.drains: list[tuple[int, dict]] = []
        self.succeed = True

    def enqueue_start(self, bundle_id: int, trigger: str, slot: str = "") -> bool:
        if self.succeed:
            self.starts.append((bundle_id, trigger, slot))
        return self.succeed

    def enqueue_runs(self, run_ids) -> bool:
        if self.succeed:
            self.runs.append(list(run_ids))
        return self.succeed

    def enqueue_drain(self, bundle_id: int, **kwargs) -> bool:
        self.drains.append((bundle_id, kwargs))
        return self.succeed


@pytest.fixture
def dispatched(monkeypatch) -> Dispatched:
    """Record what the scheduler enqueues instead of talking to Redis."""
    recorder = Dispatched()
    for name in ("enqueue_start", "enqueue_runs", "enqueue_drain"):
        monkeypatch.setattr(scheduler_module.dispatch, name, getattr(recorder, name))
    return recorder


@pytest.fixture
def account(make_account):
    """Return an account in a zone with daylight saving time."""
    return make_account(timezone="Europe/Berlin")


@pytest.fixture
def make_scheduled(account):
    """Create committed running bundles with a schedule (no version: not needed here)."""

    def factory(schedule: dict | None = None, **fields) -> Bundle:
        values = {"status": "running", "trigger_kind": "schedule", "name": "Scheduled",
                  "schedule": EVERY_5 if schedule is None else schedule, **fields}
        bundle = Bundle(account_id=account.id, **values)
        db.session.add(bundle)
        db.session.commit()
        return bundle

    return factory


@pytest.fixture
def make_run(make_scheduled):
    """Create committed runs of one bundle."""
    bundle = make_scheduled({})

    def factory(status: str, **fields) -> Run:
        run = Run(account_id=bundle.account_id, bundle_id=bundle.id, status=status,
                  trigger="webhook", **fields)
        db.session.add(run)
        db.session.commit()
        return run

    return factory


def tick(now: datetime = NOW, redis: FakeRedis | None = None) -> dict[str, int]:
    """Tick a fresh scheduler, as a new leader would, and return its counts."""
    return Scheduler(redis or FakeRedis()).tick(now)


def reload(model, object_id: int):
    """Read a row again from the database, not from the session."""
    db.session.expire_all()
    return db.session.get(model, object_id)


# --- due slots -----------------------------------------------------------------------------

def test_a_due_slot_is_enqueued_once_and_moved_to_the_next(app, dispatched, make_scheduled):
    slot = NOW - timedelta(seconds=1)
    bundle = make_scheduled(next_run_at=slot)

    assert tick()["slots"] == 1
    assert tick()["slots"] == 0

    assert dispatched.starts == [(bundle.id, "schedule", slot.isoformat())]
    assert reload(Bundle, bundle.id).next_run_at == slot + timedelta(minutes=5)


def test_future_slots_and_stopped_bundles_wait(app, dispatched, make_scheduled):
    make_scheduled(next_run_at=NOW + timedelta(seconds=1))
    make_scheduled(next_run_at=NOW - timedelta(minutes=1), status="paused")
    make_scheduled(next_run_at=NOW - timedelta(minutes=1), status="deleted")
    assert tick()["slots"] == 0
    assert dispatched.starts == []


def test_two_schedulers_ticking_at_once_start_each_slot_once(app, dispatched, make_scheduled):
    bundles = [make_scheduled(next_run_at=NOW - timedelta(seconds=n)) for n in range(30)]
    barrier = threading.Barrier(2)
    counts: list[dict] = []

    def tick_in_thread() -> None:
        with app.app_context():
            barrier.wait()
            counts.append(tick())
            db.session.remove()

    threads = [threading.Thread(target=tick_in_thread) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    started = sorted(bundle_id for bundle_id, _, _ in dispatched.starts)
    assert started == sorted(bundle.id for bundle in bundles)
    assert sum(count["slots"] for count in counts) == len(bundles)


def test_a_slot_already_moved_by_another_scheduler_is_not_started(app, dispatched,
                                                                   make_scheduled):
    bundle = make_scheduled(next_run_at=NOW - timedelta(seconds=1))
    row = SimpleNamespace(id=bundle.id, schedule=EVERY_5, next_run_at=bundle.next_run_at,
                          timezone="UTC")

    assert fire_slot(row, NOW) is True
    assert fire_slot(row, NOW) is False
    assert len(dispatched.starts) == 1


def test_a_slot_whose_enqueue_fails_is_kept_for_the_next_tick(app, dispatched,
                                                               make_scheduled):
    slot = NOW - timedelta(seconds=1)
    bundle = make_scheduled(next_run_at=slot)
    dispatched.succeed = False

    assert tick()["slots"] == 0
    assert reload(Bundle, bundle.id).next_run_at == slot

    dispatched.succeed = True
    assert tick(NOW + timedelta(seconds=1))["slots"] == 1
    assert dispatched.starts == [(bundle.id, "schedule", slot.isoformat())]


def test_times_of_day_move_in_the_account_time_zone(app, dispatched, make_scheduled):
    slot = datetime(2024, 5, 14, 7, 0, tzinfo=UTC)  # 09:00 in Berlin (summer time)
    bundle = make_scheduled({"mode": "times", "times": ["09:00", "18:30"]}, next_run_at=slot)
    tick(slot + timedelta(seconds=1))
    assert reload(Bundle, bundle.id).next_run_at == datetime(2024, 5, 14, 16, 30, tzinfo=UTC)


def test_a_bundle_switched_on_without_a_slot_gets_its_first(app, dispatched, make_scheduled):
    armed = make_scheduled(EVERY_5)
    paused = make_scheduled(EVERY_5, status="paused")
    manual = make_scheduled({})

    assert tick()["armed"] == 1
    assert reload(Bundle, armed.id).next_run_at == NOW + timedelta(minutes=5)
    assert reload(Bundle, paused.id).next_run_at is None
    assert reload(Bundle, manual.id).next_run_at is None
    assert dispatched.starts == []


def test_a_slot_left_from_a_switched_off_schedule_is_dropped(app, dispatched, make_scheduled):
    bundle = make_scheduled({}, next_run_at=NOW - timedelta(minutes=1))
    assert tick()["slots"] == 0
    assert reload(Bundle, bundle.id).next_run_at is None
    assert dispatched.starts == []


# --- retries -------------------------------------------------------------------------------

def test_due_retries_are_claimed_once_and_enqueued_in_chunks(app, dispatched, make_run):
    due = [make_run("retrying", retry_at=NOW - timedelta(seconds=n), attempt=1).id
           for n in range(120)]
    later = make_run("retrying", retry_at=NOW + timedelta(seconds=1), attempt=1)

    assert tick()["retries"] == 120
    assert tick()["retries"] == 0

    assert [len(chunk) for chunk in dispatched.runs] == [50, 50, 20]
    assert sorted(run_id for chunk in dispatched.runs for run_id in chunk) == sorted(due)
    claimed = reload(Run, due[0])
    assert (claimed.status, claimed.retry_at, claimed.attempt) == ("queued", None, 1)
    assert reload(Run, later.id).status == "retrying"


def test_retries_whose_enqueue_fails_are_due_again(app, dispatched, make_run):
    run = make_run("retrying", retry_at=NOW - timedelta(minutes=1), attempt=2)
    dispatched.succeed = False

    assert tick()["retries"] == 0

    run = reload(Run, run.id)
    assert (run.status, run.retry_at) == ("retrying", NOW)


# --- inbox sweeper -------------------------------------------------------------------------

def test_the_sweeper_drains_bundles_with_old_received_events_only(app, dispatched, account,
                                                                  make_scheduled):
    bundles = [make_scheduled({}) for _ in range(4)]
    ages_and_statuses = [(11, "received"), (5, "received"), (60, "queued"), (60, "processed")]
    for bundle, (age, status) in zip(bundles, ages_and_statuses, strict=True):
        db.session.add(InboxEvent(account_id=account.id, bundle_id=bundle.id, status=status,
                                  method="POST", headers={}, query={},
                                  received_at=NOW - timedelta(seconds=age)))
    db.session.commit()

    assert tick()["swept"] == 1
    assert dispatched.drains == [(bundles[0].id, {})]  # never forced


# --- stuck runs ----------------------------------------------------------------------------

def test_stuck_runs_are_enqueued_once_per_stuck_period(app, dispatched, make_run):
    long_ago = NOW - timedelta(seconds=901)
    running = make_run("running", started_at=long_ago, created_at=long_ago)
    queued = make_run("queued", created_at=long_ago)
    make_run("queued", created_at=NOW - timedelta(seconds=60))
    make_run("running", started_at=NOW - timedelta(seconds=60), created_at=long_ago)
    make_run("success", started_at=long_ago, created_at=long_ago)
    redis = FakeRedis()

    assert tick(redis=redis)["recovered"] == 2
    assert tick(redis=redis)["recovered"] == 0  # a new leader, the marks still live
    assert recover_stuck_runs(NOW + timedelta(seconds=30), redis) == 0

    assert dispatched.runs == [[running.id, queued.id]]


def test_a_claimed_retry_is_not_mistaken_for_a_stuck_run(app, dispatched, make_run):
    created = NOW - timedelta(hours=1)
    run = make_run("retrying", created_at=created, started_at=created,
                   retry_at=NOW - timedelta(seconds=1), attempt=1)
    redis = FakeRedis()

    assert tick(redis=redis)["retries"] == 1
    assert recover_stuck_runs(NOW, redis) == 0
    assert dispatched.runs == [[run.id]]


def test_stuck_runs_are_checked_at_most_once_a_minute_per_scheduler(app, dispatched, make_run,
                                                                    monkeypatch):
    checks: list[datetime] = []
    monkeypatch.setattr(scheduler_module, "recover_stuck_runs",
                        lambda now, redis: checks.append(now) or 0)
    scheduler = Scheduler(FakeRedis())
    for seconds in (0, 1, 59, 60, 61):
        scheduler.tick(NOW + timedelta(seconds=seconds))
    assert checks == [NOW, NOW + timedelta(seconds=60)]


# --- end dates -----------------------------------------------------------------------------

def test_a_bundle_past_its_end_date_is_paused_with_an_event(app, dispatched, make_scheduled):
    ended = make_scheduled(ends_at=NOW, next_run_at=NOW - timedelta(seconds=1))
    ongoing = make_scheduled(ends_at=NOW + timedelta(days=1))

    assert tick()["ended"] == 1
    assert tick()["ended"] == 0

    ended = reload(Bundle, ended.id)
    assert (ended.status, ended.status_reason, ended.next_run_at) == (
        "paused", "end date reached", None)
    assert reload(Bundle, ongoing.id).status == "running"
    event = db.session.scalars(select(JournalEvent)).one()
    assert (event.kind, event.level, event.bundle_id) == ("bundle_ended", "info", ended.id)
    assert dispatched.starts == []  # its due slot did not fire


# --- retention -----------------------------------------------------------------------------

def test_history_older_than_the_retention_is_deleted_once_an_hour(app, dispatched, account,
                                                                   make_run, monkeypatch):
    monkeypatch.setattr(scheduler_module, "DELETE_CHUNK", 2)
    old, recent = NOW - timedelta(days=62, seconds=1), NOW - timedelta(days=61)
    old_runs = [make_run("success", created_at=old) for _ in range(3)]
    db.session.add(RunStep(account_id=account.id, run_id=old_runs[0].id, position=0,
                           block_id="b1", block_kind="receiver", status="success"))
    kept_run = make_run("success", created_at=recent)
    for when in (old, recent):
        db.session.add(JournalEvent(account_id=account.id, kind="x", message="m",
                                    created_at=when))
        db.session.add(InboxEvent(account_id=account.id, method="POST", headers={}, query={},
                                  status="processed", received_at=when))
    db.session.commit()
    redis = FakeRedis()

    assert tick(redis=redis)["deleted"] == 5
    db.session.add(JournalEvent(account_id=account.id, kind="x", message="m", created_at=old))
    db.session.commit()
    assert tick(NOW + timedelta(minutes=1), redis=redis)["deleted"] == 0  # done this hour

    assert db.session.scalars(select(Run.id)).all() == [kept_run.id]
    assert db.session.scalar(select(func.count()).select_from(RunStep)) == 0
    assert db.session.scalar(select(func.count()).select_from(InboxEvent)) == 1
    assert db.session.scalar(select(func.count()).select_from(JournalEvent)) == 2


# --- leadership without Redis --------------------------------------------------------------

def test_without_redis_the_loop_never_ticks_and_logs_once(app, monkeypatch, caplog):
    ticks: list[object] = []
    scheduler = Scheduler()  # the test app's Redis address refuses connections
    monkeypatch.setattr(scheduler, "tick", lambda now=None: ticks.append(now))
    # Alembic's fileConfig in the migration fixture disables loggers that existed before it.
    monkeypatch.setattr(logging.getLogger("svyazka.scheduler"), "disabled", False)

    def loop() -> None:
        with app.app_context():
            scheduler.run_forever(interval=0.02)

    thread = threading.Thread(target=loop)
    with caplog.at_level(logging.INFO, logger="svyazka.scheduler"):
        thread.start()
        time.sleep(0.5)
        stopped_at = time.monotonic()
        scheduler.stop()
        thread.join(timeout=5)

    assert time.monotonic() - stopped_at < 1
    assert ticks == []
    failures = [r.getMessage() for r in caplog.records if "state=failing" in r.getMessage()]
    assert len(failures) == 1 and "part=redis" in failures[0]


# --- changing a schedule -------------------------------------------------------------------

def test_set_schedule_stores_the_normal_form_and_the_first_slot(app, make_scheduled):
    bundle = make_scheduled({})
    now = datetime(2024, 5, 14, 10, 8, tzinfo=UTC)  # 12:08 in Berlin

    set_schedule(bundle, {"mode": "times", "times": ["12:10", "9:00"]}, now=now)

    assert bundle.schedule == {"mode": "times", "times": ["09:00", "12:10"]}
    assert bundle.next_run_at == datetime(2024, 5, 15, 7, 0, tzinfo=UTC)  # 09:00 tomorrow
    set_schedule(bundle, {}, now=now)
    assert (bundle.schedule, bundle.next_run_at) == ({}, None)


def test_set_schedule_after_keeps_the_chain_column_in_sync(app, make_account, make_scheduled):
    first, second = make_scheduled({}), make_scheduled({})

    set_schedule(second, {"mode": "after", "bundle_id": first.id})
    assert (second.after_bundle_id, second.next_run_at) == (first.id, None)
    set_schedule(second, EVERY_5)
    assert second.after_bundle_id is None


@pytest.mark.parametrize("target", ["itself", "foreign", "missing", "deleted", "loop"])
def test_set_schedule_refuses_a_bad_bundle_to_run_after(app, make_account, make_scheduled,
                                                       target):
    bundle, other = make_scheduled({}), make_scheduled({})
    foreign = Bundle(account_id=make_account("Other").id, name="Theirs")
    db.session.add(foreign)
    db.session.commit()
    deleted = make_scheduled({}, status="deleted")
    set_schedule(other, {"mode": "after", "bundle_id": bundle.id})
    after_id = {"itself": bundle.id, "foreign": foreign.id, "missing": 10_000,
                "deleted": deleted.id, "loop": other.id}[target]

    with pytest.raises(ScheduleError):
        set_schedule(bundle, {"mode": "after", "bundle_id": after_id})
    assert bundle.after_bundle_id is None


def test_set_end_needs_an_aware_future_date(app, make_scheduled):
    bundle = make_scheduled()
    with pytest.raises(ScheduleError, match="time zone"):
        set_end(bundle, datetime(2030, 1, 1))
    with pytest.raises(ScheduleError, match="already passed"):
        set_end(bundle, NOW, now=NOW)
    set_end(bundle, datetime(2030, 1, 1, 3, 0, tzinfo=ZoneInfo("Europe/Berlin")), now=NOW)
    assert bundle.ends_at == datetime(2030, 1, 1, 2, 0, tzinfo=UTC)
    set_end(bundle, None)
    assert bundle.ends_at is None
