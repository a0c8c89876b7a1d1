"""What worker processes need: one app per process and RQ workers that run jobs inside it."""

from __future__ import annotations

import functools
import logging
import threading
import time

import rq
from flask import Flask
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue

# Queue names every worker listens on, in priority order; more come later
# ("runs", "polls", "system").
QUEUES: tuple[str, ...] = ("default",)

# Short names accepted in SVYAZKA_WORKER_CLASS; a dotted path to any rq.Worker works too.
WORKER_CLASSES = {
    "fork": "workers.runtime.AppWorker",
    "simple": "workers.runtime.SimpleAppWorker",
}

log = logging.getLogger("svyazka.worker")


@functools.cache
def get_app() -> Flask:
    """Create the Flask app once per process and return it."""
    from app import create_app  # late: importing the app module pulls in every blueprint

    return create_app()


class AppContextMixin:
    """Run every job inside the app context and log it in logfmt."""

    def dequeue_job_and_maintain_ttl(self, *args, **kwargs):
        """Build the app (once) before waiting for a job, so work horses inherit it."""
        app = get_app()
        start_scheduler_thread(app)
        return super().dequeue_job_and_maintain_ttl(*args, **kwargs)

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        """Perform the job with the app context pushed; report how it went."""
        app = get_app()
        name = job_name(job)
        started = time.monotonic()
        log.info("job=%s id=%s queue=%s state=started", name, job.id, queue.name)
        with app.app_context():
            if self.is_horse:
                forget_inherited_db_connections(app)
            succeeded = super().perform_job(job, queue, execution)
        state = "done" if succeeded else "failed"
        elapsed_ms = round((time.monotonic() - started) * 1000)
        log.info("job=%s id=%s state=%s ms=%d", name, job.id, state, elapsed_ms)
        return succeeded


def job_name(job: Job) -> str:
    """Return the job's function name for logs, or "?" when its payload cannot be read."""
    try:
        return job.func_name
    except Exception:  # noqa: BLE001 - rq reports the broken payload itself
        return "?"


@functools.cache
def start_scheduler_thread(app: Flask) -> threading.Thread | None:
    """Run the bundle scheduler beside this worker; a Redis lock lets one of them lead."""
    # Every worker carries a follower scheduler instead of a process of its own: it costs
    # no memory to speak of, and when the leading worker dies another takes over.
    if not app.config.get("SCHEDULER_IN_WORKERS", True):
        return None
    thread = threading.Thread(target=run_scheduler, args=(app,), name="svyazka-scheduler",
                              daemon=True)
    thread.start()
    return thread


def run_scheduler(app: Flask) -> None:
    """Run the scheduler loop inside the app context until the process ends."""
    from workers.scheduler import Scheduler

    with app.app_context():
        Scheduler().run_forever(float(app.config.get("SCHEDULER_INTERVAL", 1.0)))


def forget_inherited_db_connections(app: Flask) -> None:
    """Drop pooled DB connections copied from a parent process without closing its sockets."""
    from models.base import db

    # A forked horse must never reuse the parent's sockets; close=False leaves them to it.
    if "sqlalchemy" in app.extensions:
        db.engine.dispose(close=False)


class AppWorker(AppContextMixin, rq.Worker):
    """The forking RQ worker: each job runs in a fresh child with the app context."""


class SimpleAppWorker(AppContextMixin, rq.SimpleWorker):
    """The non-forking RQ worker: jobs run in the worker process with the app context."""
