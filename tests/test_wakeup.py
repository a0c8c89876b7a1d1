"""Drain wake-ups leave the request path: gathered, sent once per bundle, never fatal."""

from __future__ import annotations

import os
import threading
import time

from workers import wakeup
from workers.wakeup import DrainWakeup


def wait_for(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def test_each_noted_bundle_is_sent_from_a_background_thread():
    sent: list[tuple[int, str]] = []
    waker = DrainWakeup(lambda bundle_id: sent.append(
        (bundle_id, threading.current_thread().name)) or True)
    waker.notify(7)
    assert wait_for(lambda: sent == [(7, "drain-wakeup")])


def test_ids_noted_while_a_round_is_sent_share_the_next_round(monkeypatch):
    monkeypatch.setattr(wakeup, "GATHER_SECONDS", 0.2)
    rounds: list[int] = []
    waker = DrainWakeup(lambda bundle_id: rounds.append(bundle_id) or True)
    waker.notify(1)
    assert wait_for(lambda: rounds == [1])
    for _ in range(50):  # a burst within the gathering time
        waker.notify(1)
        waker.notify(2)
    assert wait_for(lambda: len(rounds) == 3)
    time.sleep(0.3)
    assert rounds == [1, 1, 2]


def test_a_failing_send_does_not_stop_later_wakeups():
    sent: list[int] = []

    def send(bundle_id: int) -> bool:
        if bundle_id == 1:
            raise ConnectionError("redis went away")
        sent.append(bundle_id)
        return True

    waker = DrainWakeup(send)
    waker.notify(1)
    time.sleep(0.05)
    waker.notify(2)
    assert wait_for(lambda: sent == [2])


def test_a_forked_child_starts_its_own_thread():
    read_end, write_end = os.pipe()
    waker = DrainWakeup(lambda bundle_id: os.write(write_end, b"%d" % bundle_id) > 0)
    waker.notify(1)
    assert os.read(read_end, 8) == b"1"
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread does not exist here
        waker.notify(2)
        time.sleep(0.5)
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read_end, 8) == b"2"
