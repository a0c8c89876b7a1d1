"""The single-machine stack: a real `flask stack` run, and /healthz when Redis is down."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from rq import Queue

from cli.stack_redis import find_redis_server

ROOT = Path(__file__).resolve().parent.parent
STARTED_LINE = re.compile(r"^stack: started (\S+) pid=(\d+)$")
HEALTHY_TIMEOUT = 45.0  # first start runs migrations and imports the app in 3 processes
EXIT_TIMEOUT = 15.0

needs_redis_server = pytest.mark.skipif(
    find_redis_server() is None, reason="no redis-server or valkey-server available"
)


@dataclass
class RunningStack:
    """A `flask stack` subprocess and what it printed."""

    process: subprocess.Popen
    instance: Path
    port: int
    lines: list[str] = field(default_factory=list)

    def child_pids(self) -> dict[str, int]:
        """Return the children the supervisor reported starting, by name."""
        found = (STARTED_LINE.match(line) for line in list(self.lines))
        return {match[1]: int(match[2]) for match in found if match}

    def output(self) -> str:
        """Return everything printed so far, for assertion messages."""
        return "\n".join(self.lines[-80:])


def free_port() -> int:
    """Return a TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stack_environment(instance: Path, **extra: str) -> dict[str, str]:
    """Build an environment that makes the stack start its own Redis and SQLite."""
    env = dict(os.environ, SVYAZKA_INSTANCE_PATH=str(instance), SVYAZKA_SECRET_KEY="test-key")
    for name in ("REDIS_URL", "SVYAZKA_REDIS_URL", "DATABASE_URL", "SVYAZKA_DATABASE_URL"):
        env.pop(name, None)
    env.update(extra)
    return env


def start_stack(instance: Path, **extra_env: str) -> RunningStack:
    """Start `flask --app app stack` with one worker, collecting its output in a thread."""
    port = free_port()
    argv = [sys.executable, "-m", "flask", "--app", "app", "stack",
            "--port", str(port), "--workers", "1"]
    process = subprocess.Popen(
        argv, cwd=ROOT, env=stack_environment(instance, **extra_env),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    running = RunningStack(process, instance, port)
    threading.Thread(target=collect_lines, args=(running,), daemon=True).start()
    return running


def collect_lines(running: RunningStack) -> None:
    """Append each output line of the stack to its list until the pipe closes."""
    for line in running.process.stdout:
        running.lines.append(line.rstrip("\n"))


def get_health(port: int) -> tuple[int, dict]:
    """GET /healthz and return the status code and the JSON body."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def wait_until_healthy(running: RunningStack) -> dict:
    """Wait for a 200 from /healthz with a live worker; fail with the stack's output."""
    deadline = time.monotonic() + HEALTHY_TIMEOUT
    last = None
    while time.monotonic() < deadline:
        assert running.process.poll() is None, f"stack exited early:\n{running.output()}"
        try:
            status, body = get_health(running.port)
            last = (status, body)
            if status == 200 and body["workers"]["live"] >= 1:
                return body
        except (OSError, ValueError):
            pass  # not listening yet
        time.sleep(0.2)
    pytest.fail(f"/healthz not healthy in {HEALTHY_TIMEOUT} s (last: {last}):\n{running.output()}")


def run_ping_job(instance: Path) -> object:
    """Enqueue workers.jobs.ping on the stack's own Redis and return the worker's result."""
    conn = redis.Redis(unix_socket_path=str(instance / "redis.sock"), socket_timeout=5)
    job = Queue("default", connection=conn).enqueue("workers.jobs.ping")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = job.get_status(refresh=True)
        if status in ("finished", "failed"):
            break
        time.sleep(0.1)
    assert status == "finished", f"ping job ended as {status}: {job.latest_result()}"
    return job.return_value()


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """List live processes whose command line or environment contains the text."""
    found = []
    needle = text.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if (entry / "stat").read_text().rpartition(")")[2].split()[0] == "Z":
                continue  # a zombie holds no resources; its parent reaps it
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:  # exited meanwhile, or not ours to read
            continue
        if needle in cmdline or needle in environ:
            found.append((int(entry.name), cmdline.replace(b"\0", b" ").decode(errors="replace")))
    return found


def assert_nothing_left(running: RunningStack) -> None:
    """Check that no process of the stack survived its supervisor."""
    survivors = processes_mentioning(str(running.instance))
    alive_children = [pid for pid in running.child_pids().values() if Path(f"/proc/{pid}").exists()]
    assert not survivors and not alive_children, (survivors, alive_children, running.output())


def stop_and_wait(running: RunningStack, signum: int) -> int:
    """Send the supervisor a signal and return its exit code (fails after EXIT_TIMEOUT)."""
    started = time.monotonic()
    running.process.send_signal(signum)
    try:
        code = running.process.wait(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"supervisor still up {EXIT_TIMEOUT} s after {signum}:\n{running.output()}")
    assert time.monotonic() - started < EXIT_TIMEOUT
    return code


@pytest.fixture
def stack_instance(tmp_path: Path) -> Iterator[Path]:
    """Give a fresh instance folder and kill whatever of a stack is left there afterwards."""
    instance = tmp_path / "instance"
    instance.mkdir()
    yield instance
    for pid, _cmd in processes_mentioning(str(instance)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.integration
@needs_redis_server
def test_stack_runs_a_job_and_stops_everything_on_sigint(stack_instance: Path) -> None:
    running = start_stack(stack_instance)
    body = wait_until_healthy(running)
    assert body["database"] == {"ok": True} and body["redis"] == {"ok": True}

    assert run_ping_job(stack_instance) == "pong"
    assert set(running.child_pids()) == {"redis", "worker-1", "web"}

    assert stop_and_wait(running, signal.SIGINT) == 0
    assert_nothing_left(running)


@pytest.mark.integration
@needs_redis_server
def test_stack_with_simple_workers_stops_everything_on_sigterm(stack_instance: Path) -> None:
    running = start_stack(stack_instance, SVYAZKA_WORKER_CLASS="simple")
    wait_until_healthy(running)

    assert run_ping_job(stack_instance) == "pong"

    assert stop_and_wait(running, signal.SIGTERM) == 0
    assert_nothing_left(running)


@pytest.mark.integration
@needs_redis_server
def test_stack_stops_everything_when_a_child_dies(stack_instance: Path) -> None:
    running = start_stack(stack_instance)
    wait_until_healthy(running)
    worker_pid = running.child_pids()["worker-1"]

    os.kill(worker_pid, signal.SIGKILL)

    try:
        code = running.process.wait(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"supervisor ignored its dead worker:\n{running.output()}")
    assert code != 0
    assert f"worker-1 (pid {worker_pid}) was killed by SIGKILL unexpectedly" in running.output()
    assert_nothing_left(running)


def closed_port() -> int:
    """Return a port on loopback where nothing accepts connections."""
    return free_port()  # bound and released at once: connecting is refused


def test_healthz_answers_503_when_redis_is_unreachable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SVYAZKA_INSTANCE_PATH", str(tmp_path))
    from app import create_app

    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-key",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'health.db'}",
        "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0",
    })

    started = time.monotonic()
    reply = app.test_client().get("/healthz")

    assert time.monotonic() - started < 3
    assert reply.status_code == 503
    body = reply.get_json()
    assert body["ok"] is False
    assert body["database"] == {"ok": True}
    assert body["redis"]["ok"] is False and body["redis"]["error"]
    assert body["workers"] == {"live": 0}


def test_redis_url_defaults_to_the_stack_socket_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SVYAZKA_INSTANCE_PATH", str(tmp_path))
    for name in ("REDIS_URL", "SVYAZKA_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    from app import create_app
    from core.redisconn import redis_url

    app = create_app({"TESTING": True, "SECRET_KEY": "test-key"})

    assert redis_url(app) == f"unix://{tmp_path / 'redis.sock'}"
    assert redis_url({"REDIS_URL": "redis://cache:6379/1"}) == "redis://cache:6379/1"
