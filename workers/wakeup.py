"""Wake drain workers from the web process without making webhook callers wait on Redis.

The intake commits an event, answers, and leaves the bundle id here; one thread per process
asks Redis for a drain job. Ids that pile up while it talks to Redis are sent together, so
under load one Redis call covers many requests. An event whose wake-up is lost (the process
dies, Redis is down) stays "received" in the database, and the scheduler's sweeper enqueues it.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger("svyazka.wakeup")

# Under load, ids gathered over this long share one round of Redis calls: a few milliseconds
# more before a worker is woken, instead of a Redis round trip on every webhook request.
GATHER_SECONDS = 0.005


class DrainWakeup:
    """Collect bundle ids that have new events and ask for their drain jobs in the background."""

    def __init__(self, send: Callable[[int], bool]):
        self.send = send  # enqueue_drain bound to a Redis client
        self.waiting: set[int] = set()
        self.condition = threading.Condition()
        self.pid: int | None = None  # the process the thread was started in

    def notify(self, bundle_id: int) -> None:
        """Note that the bundle has new events; the thread asks for a drain job soon."""
        with self.condition:
            self.waiting.add(bundle_id)
            if self.pid != os.getpid():  # first use, or first use after a fork
                self.start()
            self.condition.notify()

    def start(self) -> None:
        """Start the sending thread in this process."""
        self.pid = os.getpid()
        threading.Thread(target=self.run, name="drain-wakeup", daemon=True).start()
        atexit.register(self.flush)

    def run(self) -> None:
        """Send waiting ids until the process ends, at most one round per gathering time."""
        last_round = 0.0
        while True:
            with self.condition:
                while not self.waiting:
                    self.condition.wait()
            time.sleep(max(0.0, last_round + GATHER_SECONDS - time.monotonic()))
            last_round = time.monotonic()
            self.flush()

    def flush(self) -> None:
        """Ask for a drain job for every waiting bundle now."""
        with self.condition:
            bundle_ids, self.waiting = self.waiting, set()
        for bundle_id in sorted(bundle_ids):
            try:
                self.send(bundle_id)  # False when Redis is down: the sweeper catches up
            except Exception:  # a wake-up must never kill the thread
                log.exception("wakeup bundle=%s state=failed", bundle_id)
