"""SQLite writers take turns on a lock file, across threads and processes."""

from __future__ import annotations

import os
import time

from sqlalchemy import create_engine

from models.write_gate import WriteGate, write_gate_for


def test_only_file_sqlite_gets_a_gate(tmp_path):
    gate = write_gate_for(create_engine(f"sqlite:///{tmp_path}/x.db"))
    assert gate is not None and gate.lock_path == f"{tmp_path}/x.db-writelock"
    assert write_gate_for(create_engine("sqlite://")) is None
    assert write_gate_for(create_engine("postgresql+psycopg://u@localhost/db")) is None


def test_another_process_waits_until_the_lock_is_released(tmp_path):
    gate = WriteGate(str(tmp_path / "db-writelock"))
    read_end, write_end = os.pipe()
    with gate.held():
        pid = os.fork()
        if pid == 0:  # the child must wait for the parent's release
            with gate.held():
                os.write(write_end, b"%.6f" % time.monotonic())
            os._exit(0)
        time.sleep(0.3)
        released = time.monotonic()
    child_got_it = float(os.read(read_end, 32))
    os.waitpid(pid, 0)
    assert child_got_it >= released
    assert child_got_it - released < 0.1  # woken at once, not after a sleep schedule
