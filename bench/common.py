"""Shared parts of the benchmarks: processes, a temporary instance, Redis, the web server, workers.

Every child is started in a process group of its own and stopped by that group, so helpers
it forked (web server workers, rq work horses) go with it; nothing is ever killed by name.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
STOP_GRACE_SECONDS = 10.0
READY_TIMEOUT_SECONDS = 60.0
BENCH_EMAIL = "bench@example.com"
BENCH_PASSWORD = "bench-password-1"
# Inherited settings that would point a benchmark at a real database or Redis.
FOREIGN_VARIABLES = ("DATABASE_URL", "REDIS_URL", "RQ_REDIS_URL")
SIMPLE_WORKER = "workers.runtime.SimpleAppWorker"
FORK_WORKER = "workers.runtime.AppWorker"
WORKER_CLASSES = {"simple": SIMPLE_WORKER, "fork": FORK_WORKER}
SQLITE_SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


# --- processes ------------------------------------------------------------------------------


@dataclass
class Child:
    """One started process: its name, the process, and where its output goes."""

    name: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        """Return the process id, which is also its process group id."""
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        """Return the last lines the process printed, for error messages."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Processes:
    """Every process a benchmark starts; leaving the `with` block stops them all."""

    folder: Path
    children: list[Child] = field(default_factory=list)
    groups: set[int] = field(default_factory=set)

    def start(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Child:
        """Start a process in a new process group, its output going to a log file."""
        log_path = self.folder / f"{name}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(list(argv), cwd=ROOT, env=env, stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       process_group=0)
        child = Child(name, process, log_path)
        self.children.append(child)
        self.groups.add(child.pid)
        return child

    def stop(self, child: Child, signum: int = signal.SIGTERM) -> None:
        """Signal a child's group, wait for the child, then SIGKILL whatever is left."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=STOP_GRACE_SECONDS)
        kill_group(child.pid)
        child.process.wait()
        if child in self.children:
            self.children.remove(child)

    def stop_all(self) -> None:
        """Stop every child, the last started first."""
        for child in reversed(list(self.children)):
            self.stop(child)

    def survivors(self) -> list[int]:
        """Return live processes still in any group this benchmark created."""
        return [pid for pid, group in process_groups().items() if group in self.groups]

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()


def kill_group(group: int) -> None:
    """SIGKILL every process left in a process group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


def process_groups() -> dict[int, int]:
    """Map every live (non-zombie) process id to its process group id."""
    found: dict[int, int] = {}
    for pid in live_pids():
        fields = read_stat_fields(pid)
        if fields and fields[0] != "Z":
            found[pid] = int(fields[2])
    return found


def read_stat_fields(pid: int) -> list[str]:
    """Return /proc/<pid>/stat after the command name: state, ppid, pgrp, ...; [] if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return stat.rpartition(")")[2].split()


def install_stop_signals() -> None:
    """Turn SIGTERM and SIGHUP into SystemExit so `with Processes(...)` cleans up."""

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGHUP, leave)


@contextlib.contextmanager
def bench_folder(prefix: str) -> Iterator[Path]:
    """Create a short temporary folder (unix socket paths are limited) and remove it after."""
    folder = Path(tempfile.mkdtemp(prefix=f"svz-{prefix}-", dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05) -> float:
    """Poll until predicate() is true; return the seconds waited or raise RuntimeError."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")


# --- Redis and the instance ----------------------------------------------------------------


def start_redis(processes: Processes) -> str:
    """Start a private redis-server on a unix socket (append-only, fsync every second)."""
    binary = shutil.which("redis-server") or shutil.which("valkey-server")
    if binary is None:
        raise SystemExit("redis-server is missing: apt-get install redis-server")
    folder = processes.folder / "redis"
    folder.mkdir()
    sock = folder / "redis.sock"
    processes.start("redis", [binary, "--port", "0", "--unixsocket", str(sock),
                              "--unixsocketperm", "700", "--dir", str(folder),
                              "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""])
    wait_until(lambda: redis_answers(sock), 10, "redis-server")
    return f"unix://{sock}"


def redis_answers(sock: Path) -> bool:
    """Tell whether a Redis answers PING on a unix socket."""
    try:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(1)
            conn.connect(str(sock))
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def clean_environment(instance_path: Path, redis_url: str | None, **extra: str) -> dict[str, str]:
    """Return this process's environment pointed at the benchmark instance, nothing else."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("SVYAZKA_") and name not in FOREIGN_VARIABLES}
    env["SVYAZKA_INSTANCE_PATH"] = str(instance_path)
    env["PYTHONUNBUFFERED"] = "1"
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update({f"SVYAZKA_{name}": value for name, value in extra.items()})
    return env


def make_instance(folder: Path, redis_url: str | None, **extra: str) -> dict[str, str]:
    """Create an instance folder with a migrated SQLite database; adopt its environment."""
    instance = folder / "instance"
    instance.mkdir()
    env = clean_environment(instance, redis_url, **extra)
    os.environ.clear()
    os.environ.update(env)  # the app this process builds must see the same settings
    migrate = subprocess.run([PYTHON, "-m", "flask", "--app", "app", "db", "upgrade"],
                             cwd=ROOT, env=env, capture_output=True, text=True)
    if migrate.returncode != 0:
        raise RuntimeError(f"db upgrade failed:\n{migrate.stderr[-2000:]}")
    return env


@functools.cache
def bench_app():
    """Build the app once in this process, on the instance made by make_instance."""
    from app import create_app

    return create_app()


@dataclass(frozen=True)
class BenchBundle:
    """The running bundle a benchmark posts to."""

    id: int
    account_id: int
    token: str


def seed_bundle(definition: dict) -> BenchBundle:
    """Create the workspace owner (once) and a running bundle with the definition."""
    from models.account import Account
    from models.base import db
    from models.bundle import BundleStatus
    from models.bundle_versions import create_bundle
    from models.users import create_account_with_owner

    with bench_app().app_context():
        account = db.session.query(Account).first()
        if account is None:
            account = create_account_with_owner("Bench", BENCH_EMAIL, BENCH_PASSWORD).account
        bundle = create_bundle(account, "Benchmark", definition)
        bundle.status = BundleStatus.RUNNING.value
        db.session.commit()
        seeded = BenchBundle(bundle.id, account.id, str(bundle.webhook_token))
        db.session.remove()
    return seeded


def database_settings() -> dict[str, str]:
    """Describe the database and the durability pragmas its connections get."""
    from sqlalchemy import text

    from models.base import db

    app = bench_app()
    with app.app_context():
        url = db.engine.url
        settings = {"database": f"{url.get_backend_name()} {url.database or url.host}"}
        if url.get_backend_name() == "sqlite":
            read = {name: db.session.execute(text(f"PRAGMA {name}")).scalar()
                    for name in ("journal_mode", "synchronous", "busy_timeout")}
            settings["sqlite"] = (f"journal_mode={read['journal_mode']} "
                                  f"synchronous={SQLITE_SYNCHRONOUS.get(read['synchronous'])} "
                                  f"busy_timeout={read['busy_timeout']}ms")
        db.session.remove()
    return settings


def redis_settings(redis_url: str) -> dict[str, str]:
    """Describe the Redis server and its persistence settings."""
    import redis

    client = redis.Redis.from_url(redis_url)
    info = client.info("server")
    config = {key: client.config_get(key)[key] for key in ("appendonly", "appendfsync")}
    client.close()
    return {"redis": f"{info['redis_version']} on a unix socket, appendonly={config['appendonly']}"
                     f" appendfsync={config['appendfsync']}"}


def machine_settings() -> dict[str, str]:
    """Describe the machine: cores, CPU, memory and Python."""
    model = next((line.split(":", 1)[1].strip()
                  for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {"machine": f"{os.cpu_count()} cores ({model}), {memory_kb // 1024} MB RAM, "
                       f"Linux {platform.release()}",
            "python": f"{platform.python_version()} ({PYTHON})"}


# --- web server and workers ----------------------------------------------------------------


@dataclass(frozen=True)
class WebConfig:
    """How the web server (Granian, WSGI) runs: processes and Python threads per process."""

    workers: int = 2
    threads: int = 2

    def describe(self) -> str:
        """Return the settings in words."""
        return (f"granian --interface wsgi --workers {self.workers} "
                f"--blocking-threads {self.threads} (no access log)")


def start_web(processes: Processes, env: dict[str, str], config: WebConfig) -> str:
    """Start the web server on a free loopback port as `flask stack` does; return its URL."""
    port = free_port()
    argv = [PYTHON, "-m", "granian", "--interface", "wsgi", "--factory", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(config.workers),
            "--blocking-threads", str(config.threads), "app:create_app"]
    child = processes.start("web", argv, env)
    try:
        wait_until(lambda: all_web_workers_booted(child, config.workers), READY_TIMEOUT_SECONDS,
                   "every web server worker")
        wait_until(lambda: http_status("127.0.0.1", port, "GET", "/healthz") is not None,
                   READY_TIMEOUT_SECONDS, "the web server")
    except RuntimeError as error:
        raise RuntimeError(f"{error}\n{child.log_tail()}") from None
    return f"http://127.0.0.1:{port}"


def all_web_workers_booted(child: Child, count: int) -> bool:
    """Tell whether the web server logged the start of `count` workers."""
    return child.log_path.read_text(errors="replace").count("Started worker-") >= count


def http_status(host: str, port: int, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> int | None:
    """Send one request; return its status, or None when nothing answered."""
    connection = http.client.HTTPConnection(host, port, timeout=2)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


def start_workers(processes: Processes, env: dict[str, str], count: int,
                  worker_class: str) -> list[Child]:
    """Start `count` rq worker processes and wait until each is idle (app built)."""
    redis_url = env["REDIS_URL"]
    argv = [PYTHON, "-m", "rq.cli", "worker", "--url", redis_url, "--worker-class",
            worker_class, "--quiet", "default"]
    children = [processes.start(f"worker-{count}-{n}", argv, env) for n in range(1, count + 1)]
    try:
        wait_until(lambda: idle_workers(redis_url) >= count, READY_TIMEOUT_SECONDS,
                   f"{count} idle rq workers")
    except RuntimeError as error:
        raise RuntimeError(f"{error}\n{children[0].log_tail()}") from None
    return children


def idle_workers(redis_url: str) -> int:
    """Count registered rq workers waiting for a job (they build the app before that)."""
    import redis
    from rq import Worker

    with contextlib.closing(redis.Redis.from_url(redis_url)) as client:
        return sum(1 for worker in Worker.all(connection=client) if worker.state == "idle")


# --- CPU accounting ------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """Return the CPU seconds all cores spent busy since boot (from /proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def group_cpu_seconds(groups: set[int]) -> float:
    """Return the CPU seconds used so far by live processes of the groups and their children."""
    stats = {pid: fields for pid in live_pids() if len(fields := read_stat_fields(pid)) > 14}
    ours = {pid for pid, fields in stats.items() if int(fields[2]) in groups}
    # Children that made process groups of their own (the stack's) are counted too.
    for _ in range(8):
        ours |= {pid for pid, fields in stats.items() if int(fields[1]) in ours}
    # utime + stime, and cutime + cstime: children already reaped (rq work horses).
    return sum(sum(int(value) for value in stats[pid][11:15]) for pid in ours) / CLOCK_TICKS


def live_pids() -> list[int]:
    """List every process id."""
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


@dataclass(frozen=True)
class CpuUse:
    """Cores busy during a window, split by who used them."""

    seconds: float
    machine: float
    ours: float
    generator: float

    @property
    def other(self) -> float:
        """Return the cores used by processes outside the benchmark."""
        return max(0.0, self.machine - self.ours - self.generator)

    def describe(self) -> str:
        """Return the split in words."""
        return (f"{self.machine:.2f} of {os.cpu_count()}: server side {self.ours:.2f}, "
                f"load generator + bench {self.generator:.2f}, other processes {self.other:.2f}")


@dataclass
class CpuMeter:
    """Measure the cores busy during a window: ours, the load generator's, everyone else's."""

    processes: Processes
    started: float = 0.0
    readings: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def start(self) -> None:
        """Take the first readings."""
        self.started = time.monotonic()
        self.readings = self._read()

    def stop(self) -> CpuUse:
        """Return the cores used since start()."""
        seconds = time.monotonic() - self.started
        machine, ours, generator = (
            (now - then) / seconds for now, then in zip(self._read(), self.readings, strict=True))
        return CpuUse(seconds, machine, ours, generator)

    def _read(self) -> tuple[float, float, float]:
        """Read busy seconds: the machine's, the benchmark's processes', this process's."""
        return (machine_busy_seconds(), group_cpu_seconds(self.processes.groups),
                own_cpu_seconds())


def wait_for_quiet(limit_seconds: float, busy_below: float = 0.25) -> str:
    """Wait (at most limit_seconds) until other processes leave the cores nearly idle."""
    started = time.monotonic()
    busy = float("nan")
    while time.monotonic() - started < limit_seconds:
        before = machine_busy_seconds()
        time.sleep(1.0)
        busy = machine_busy_seconds() - before
        if busy < busy_below:
            return f"quiet after {time.monotonic() - started:.0f} s ({busy:.2f} cores busy)"
    return f"NOT quiet: {busy:.2f} cores busy after waiting {limit_seconds:g} s"


def own_cpu_seconds() -> float:
    """Return the CPU seconds of this process and its waited-for children (e.g. wrk)."""
    import resource

    mine = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


# --- figures -------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile of the values (fraction 0..1); nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def print_block(title: str, lines: dict[str, Any]) -> None:
    """Print a titled block of `name: value` lines."""
    print(f"\n== {title}")
    width = max((len(name) for name in lines), default=0)
    for name, value in lines.items():
        print(f"  {name.ljust(width)} : {value}")
    sys.stdout.flush()


def dump_json(path: Path | None, data: Any) -> None:
    """Write the figures as JSON when a path was given."""
    if path is not None:
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")


# --- an open-loop sender -------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One request of the open-loop sender: when it was due, sent, answered, and how."""

    number: int
    due: float
    sent: float
    answered: float
    status: int | None
    body: bytes


@dataclass
class OpenLoopSender:
    """POST JSON at a fixed rate from a pool of keep-alive connections, whatever the pace."""

    base_url: str
    path: str
    rate: float
    duration: float
    connections: int = 16
    results: list[Sent] = field(default_factory=list)
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def run(self, payload_of) -> list[Sent]:
        """Send rate*duration requests; payload_of(number, send_time) gives each body."""
        from concurrent.futures import ThreadPoolExecutor

        total = int(self.rate * self.duration)
        started = time.time()
        deadline = time.monotonic() + self.duration + 30  # bounded even if the server stalls
        with ThreadPoolExecutor(self.connections, thread_name_prefix="sender") as pool:
            for number in range(total):
                due = started + number / self.rate
                time.sleep(max(0.0, due - time.time()))
                if time.monotonic() > deadline:
                    break
                pool.submit(self._send, number, due, payload_of)
        return sorted(self.results, key=lambda sent: sent.number)

    def _send(self, number: int, due: float, payload_of) -> None:
        """Send one request on this thread's connection and record how it went."""
        connection = self._connection()
        sent = time.time()
        body = json.dumps(payload_of(number, sent)).encode()
        status, answer = None, b""
        try:
            connection.request("POST", self.path, body=body,
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            answer, status = response.read(), response.status
        except OSError:
            connection.close()
        self.results.append(Sent(number, due, sent, time.time(), status, answer))

    def _connection(self) -> http.client.HTTPConnection:
        """Return this thread's keep-alive connection, reopened if the server closed it."""
        if not hasattr(self._local, "connection"):
            host, _, port = self.base_url.removeprefix("http://").partition(":")
            self._local.connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection = self._local.connection
        if connection.sock is not None and closed_by_peer(connection.sock):
            connection.close()  # servers drop idle keep-alive connections after a while
        return connection


def closed_by_peer(sock: socket.socket) -> bool:
    """Tell whether an idle connection became readable, i.e. the peer closed it."""
    import select

    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


def add_shared_options(parser: argparse.ArgumentParser) -> None:
    """Add the options every benchmark takes: web server layout, idle wait, JSON output."""
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quiet", type=float, default=60.0,
                        help="before each run wait at most this long for other processes to "
                             "go idle")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
