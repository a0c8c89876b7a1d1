"""Take turns writing to SQLite without sleeping: a lock file shared by every process.

SQLite lets one writer in at a time; the others wait in its busy handler, which sleeps in
steps of 1, 2, 5, 10 ms and more before trying again. Under a steady stream of webhooks two
web processes kept sleeping on each other and left a third of the CPU idle. An flock on a
file next to the database queues writers in the kernel instead: the next one wakes the moment
the lock is released. The webhook intake and the workers' run commits go through it; other
writers (pages, the scheduler) still rely on SQLite's busy timeout. PostgreSQL needs none of
this.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from sqlalchemy import Engine


class WriteGate:
    """An exclusive lock for short SQLite write transactions, across threads and processes."""

    def __init__(self, lock_path: str):
        self.lock_path = lock_path
        self.pid: int | None = None  # the process the lock below belongs to
        self.thread_lock = threading.Lock()
        self.fd = -1

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the duration of the block."""
        if self.pid != os.getpid():
            self.open_in_this_process()
        with self.thread_lock:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self.fd, fcntl.LOCK_UN)

    def open_in_this_process(self) -> None:
        """Give this process its own thread lock and descriptor of the lock file."""
        # A forked child inherits the parent's descriptor, which is the same flock for both,
        # and perhaps a thread lock taken by a thread that does not exist in the child.
        self.thread_lock = threading.Lock()
        self.fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.pid = os.getpid()


_gates: dict[str, WriteGate] = {}


def write_gate_for(engine: Engine) -> WriteGate | None:
    """Return the process's write gate for a file-based SQLite database, None otherwise."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    lock_path = f"{url.database}-writelock"
    if lock_path not in _gates:
        _gates[lock_path] = WriteGate(lock_path)
    return _gates[lock_path]


def gate_or_nothing(gate: WriteGate | None) -> AbstractContextManager[None]:
    """Return the gate's lock, or a no-op where no gate is needed."""
    return gate.held() if gate is not None else nullcontext()
