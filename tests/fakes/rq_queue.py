"""Stand-ins for an RQ queue and its jobs, so web tests can see what was enqueued."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from rq.job import JobStatus


@dataclass
class FakeJob:
    """A job as the status endpoint reads it: function, arguments, status and result."""

    id: str
    func_name: str
    args: tuple
    status: JobStatus = JobStatus.QUEUED
    result: Any = None

    def get_status(self) -> JobStatus:
        """Return the job's status."""
        return self.status

    def return_value(self) -> Any:
        """Return what the job returned."""
        return self.result


@dataclass
class FakeQueue:
    """Record enqueued jobs instead of sending them to Redis."""

    jobs: dict[str, FakeJob] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def enqueue(self, function: str, *args: Any, **options: Any) -> FakeJob:
        """Record a job and return it."""
        job = FakeJob(f"job-{next(self._ids)}", function, args)
        self.jobs[job.id] = job
        return job

    def fetch(self, job_id: str, connection: Any = None) -> FakeJob:
        """Return a recorded job, as Job.fetch does, or raise NoSuchJobError."""
        from rq.exceptions import NoSuchJobError

        if job_id not in self.jobs:
            raise NoSuchJobError(job_id)
        return self.jobs[job_id]

    def calls(self) -> list[tuple[str, tuple]]:
        """Return (function, args) of every recorded job, oldest first."""
        return [(job.func_name, job.args) for job in self.jobs.values()]


def install(monkeypatch) -> FakeQueue:
    """Route connection jobs to a fake queue; return it."""
    from workers import connection_jobs, dispatch

    queue = FakeQueue()
    monkeypatch.setattr(dispatch, "queue", lambda: queue)
    monkeypatch.setattr(connection_jobs.Job, "fetch", queue.fetch)
    monkeypatch.setattr(connection_jobs, "get_redis", lambda: None)
    return queue
