"""Two real `flask scheduler` processes on one Redis: one leader, each slot started once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from rq import Queue
from sqlalchemy import update

from models import Bundle, db
from models.base import utcnow
from tests.integration.conftest import ROOT, wait_for
from workers.scheduler import LEADER_KEY

pytestmark = pytest.mark.integration


class SchedulerProcess:
    """One `flask --app app scheduler` process against the test database and Redis."""

    def __init__(self, app, redis_url: str, log_path: Path):
        env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
               "REDIS_URL": redis_url, "SVYAZKA_SECRET_KEY": app.config["SECRET_KEY"],
               "SVYAZKA_INSTANCE_PATH": app.instance_path}
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "scheduler", "--interval", "0.2"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        """Return what the process logged."""
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> float:
        """Send a signal and return how many seconds the process took to exit."""
        sent = time.monotonic()
        self.process.send_signal(signum)
        self.process.wait(timeout=10)
        return time.monotonic() - sent

    def stop(self) -> None:
        """Stop the process if it still runs."""
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
        self._log.close()


@pytest.fixture
def start_scheduler(live_app, redis_server, tmp_path):
    """Start scheduler processes; all are stopped after the test."""
    started: list[SchedulerProcess] = []

    def factory() -> SchedulerProcess:
        process = SchedulerProcess(live_app, redis_server.url,
                                   tmp_path / f"scheduler{len(started)}.log")
        started.append(process)
        return process

    yield factory
    for process in started:
        process.stop()


def queued_jobs(redis_server) -> list[tuple[str, tuple]]:
    """Return (function, args) of every job waiting in the default queue."""
    return [(job.func_name, job.args)
            for job in Queue("default", connection=redis_server.client()).jobs]


def make_due(bundle_id: int) -> str:
    """Put a bundle's slot a minute in the past; return the slot as the job will carry it."""
    slot = utcnow() - timedelta(minutes=1)
    db.session.execute(update(Bundle).where(Bundle.id == bundle_id).values(next_run_at=slot))
    db.session.commit()
    return slot.isoformat()


def test_one_leader_starts_the_slot_once_and_a_survivor_takes_over(
        live_app, redis_server, start_scheduler, make_account):
    account = make_account()
    bundle = Bundle(account_id=account.id, name="Hourly", status="running",
                    trigger_kind="schedule", schedule={"mode": "interval", "minutes": 60})
    db.session.add(bundle)
    db.session.commit()
    first_slot = make_due(bundle.id)

    processes = [start_scheduler(), start_scheduler()]
    wait_for(lambda: all("state=leader" in p.log() or "state=follower" in p.log()
                         for p in processes), message="both schedulers to choose a role")
    wait_for(lambda: queued_jobs(redis_server), message="the slot's job")
    time.sleep(1.0)  # five more ticks: a duplicate would show up now

    assert queued_jobs(redis_server) == [
        ("workers.jobs.start_bundle", (bundle.id, "schedule", first_slot))]
    leaders = [p for p in processes if "state=leader" in p.log()]
    assert len(leaders) == 1, [p.log() for p in processes]
    leader = leaders[0]
    survivor = next(p for p in processes if p is not leader)

    leader.signal(signal.SIGKILL)  # a crash: the lock is not released, it must expire
    killed_at = time.monotonic()
    wait_for(lambda: "state=leader" in survivor.log(), timeout=15, message="a takeover")
    assert time.monotonic() - killed_at < 12

    second_slot = make_due(bundle.id)
    wait_for(lambda: len(queued_jobs(redis_server)) == 2, message="the survivor's slot job")
    assert queued_jobs(redis_server)[1] == (
        "workers.jobs.start_bundle", (bundle.id, "schedule", second_slot))

    assert survivor.signal(signal.SIGTERM) < 1.0
    assert survivor.process.returncode == 0
    assert redis_server.client().get(LEADER_KEY) is None  # released, not left to expire
