"""Real parts for integration tests: a redis-server process and `rq worker` processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]


class RedisServer:
    """A redis-server child on a unix socket in a temporary folder; can stop and restart."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.socket = folder / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the server (with an append-only file, so restarts keep queued jobs)."""
        binary = shutil.which("redis-server") or shutil.which("valkey-server")
        if binary is None:
            pytest.fail("redis-server is missing: apt-get install redis-server")
        self.process = subprocess.Popen(
            [binary, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
             "--dir", str(self.folder), "--appendonly", "yes", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(unix_socket_path=str(self.socket)).ping():
                    return
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """Stop the server."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def client(self) -> redis.Redis:
        """Return a plain client."""
        return redis.Redis(unix_socket_path=str(self.socket))


@pytest.fixture
def redis_server(tmp_path_factory):
    """Start a private redis-server for one test."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def live_app(app, redis_server):
    """The test app wired to the real Redis and allowed to call local test servers."""
    app.config.update(REDIS_URL=redis_server.url, ALLOW_PRIVATE_NETWORK=True,
                      RETRY_BASE_SECONDS=0.2, RETRY_MAX_SECONDS=5)
    return app


class WorkerProcess:
    """One `rq worker` process running svyazka jobs against the test database."""

    def __init__(self, app, redis_url: str, log_path: Path, worker_class: str):
        env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
               "REDIS_URL": redis_url, "SVYAZKA_SECRET_KEY": app.config["SECRET_KEY"],
               "SVYAZKA_INSTANCE_PATH": app.instance_path,
               "SVYAZKA_ALLOW_PRIVATE_NETWORK": "true",
               "SVYAZKA_RETRY_BASE_SECONDS": str(app.config["RETRY_BASE_SECONDS"]),
               "SVYAZKA_RETRY_MAX_SECONDS": str(app.config["RETRY_MAX_SECONDS"])}
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rq.cli", "worker", "--url", redis_url, "--worker-class",
             worker_class, "--quiet", "default"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """Kill the worker at once, as a crash or an OOM kill would."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the worker gracefully."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def log(self) -> str:
        """Return what the worker printed."""
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def start_worker(live_app, redis_server, tmp_path):
    """Start real rq worker processes; all are stopped after the test."""
    workers: list[WorkerProcess] = []

    def factory(worker_class: str = "workers.runtime.SimpleAppWorker") -> WorkerProcess:
        worker = WorkerProcess(live_app, redis_server.url, tmp_path / f"worker{len(workers)}.log",
                               worker_class)
        workers.append(worker)
        return worker

    yield factory
    for worker in workers:
        worker.stop()


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1, message: str = ""):
    """Poll until predicate() is truthy; fail the test with a message after the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {message or predicate}")
