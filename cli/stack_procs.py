"""The children of `flask stack` and their supervisor: start in order, watch, stop them all.

`flask stack` prepares a plan and then replaces itself with `python -m cli.stack_procs PLAN`,
so the process that waits for hours holds only the standard library, not the whole app.
Only the standard library may be imported here.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

GRACE_SECONDS = 10.0  # per tier: SIGTERM, then SIGKILL after this long
FORCED_GRACE_SECONDS = 1.0  # the same after a second Ctrl-C
WEB_THREADS = 2  # per web process: more made the webhook intake slower (the GIL), not faster
# Below GRACE_SECONDS, so the web server finishes its requests and exits on its own.
WEB_GRACEFUL_TIMEOUT = 8
WEB_READY_TIMEOUT = 60
POLL_SECONDS = 0.2
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)


@dataclass
class Child:
    """A started child: its name, its stop tier (highest stops first) and its process."""

    name: str
    tier: int
    process: subprocess.Popen

    @property
    def pid(self) -> int:
        """Return the child's process id, which is also its process group id."""
        return self.process.pid

    def running(self) -> bool:
        """Tell whether the child has not exited yet."""
        return self.process.poll() is None

    def describe_exit(self) -> str:
        """Say how the child ended, e.g. 'exited with code 1' or 'was killed by SIGKILL'."""
        code = self.process.returncode
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):  # e.g. a real-time signal has no name
                return f"was killed by {signal.Signals(-code).name}"
            return f"was killed by signal {-code}"
        return f"exited with code {code}"


class StopSignals:
    """Count SIGINT/SIGTERM/SIGHUP; the handler only records, the main loop acts."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, signum: int, _frame) -> None:
        self.count += 1

    @property
    def requested(self) -> bool:
        """Tell whether any stop signal arrived."""
        return self.count > 0

    def install(self) -> None:
        """Route the stop signals to this object."""
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self)


def worker_spec(number: int, dotted_class: str, queues: tuple[str, ...]) -> dict:
    """Describe the command line of one RQ worker (it also runs the scheduler when it can)."""
    # The Redis URL comes from RQ_REDIS_URL: in argv a password would show in `ps`.
    # No "--with-scheduler": svyazka's own scheduler runs inside each worker (runtime.py).
    argv = [sys.executable, "-m", "rq.cli", "worker",
            "--worker-class", dotted_class, *queues]
    return {"name": f"worker-{number}", "argv": argv, "tier": 1}


def web_spec(host: str, port: int, web_workers: int) -> dict:
    """Describe the Granian command line (WSGI) and how to tell it is up."""
    argv = [sys.executable, "-m", "granian", "--interface", "wsgi", "--factory",
            "--host", host, "--port", str(port), "--workers", str(web_workers),
            "--blocking-threads", str(WEB_THREADS),
            "--workers-kill-timeout", str(WEB_GRACEFUL_TIMEOUT),
            "--respawn-failed-workers", "--access-log", "app:create_app"]
    return {"name": "web", "argv": argv, "tier": 2,
            "ready": {"tcp": [reachable_host(host), port]}, "ready_timeout": WEB_READY_TIMEOUT}


def reachable_host(host: str) -> str:
    """Return an address to connect to for a listen address (wildcards mean loopback)."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def echo(message: str) -> None:
    """Print one supervisor line, flushed so it interleaves with the children's output."""
    print(f"stack: {message}", flush=True)


def prctl(option: int, value: int) -> bool:
    """Call Linux prctl(2); return False where it is unavailable."""
    try:
        return _libc.prctl(option, value, 0, 0, 0) == 0
    except AttributeError:  # not Linux
        return False


def die_with_parent(parent_pid: int) -> None:
    """In a fresh child: get SIGTERM when the supervisor dies, even by SIGKILL."""
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the supervisor died before prctl took effect
        os._exit(1)


def spawn(spec: dict, cwd: str) -> Child:
    """Start a child in its own process group so a terminal Ctrl-C reaches only us."""
    process = subprocess.Popen(
        spec["argv"],
        cwd=cwd,
        process_group=0,
        preexec_fn=functools.partial(die_with_parent, os.getpid()),
    )
    return Child(spec["name"], int(spec["tier"]), process)


def unix_answers_ping(path: str) -> bool:
    """Tell whether a Redis at a unix socket answers PING (not while still loading)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(1.0)
            conn.connect(path)
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def tcp_accepts(host: str, port: int) -> bool:
    """Tell whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def is_ready(ready: dict) -> bool:
    """Run the readiness probe a child spec names."""
    if "unix" in ready:
        return unix_answers_ping(ready["unix"])
    return tcp_accepts(ready["tcp"][0], int(ready["tcp"][1]))


def first_dead(children: list[Child]) -> Child | None:
    """Return a child that has exited, if any."""
    return next((child for child in children if not child.running()), None)


def wait_ready(spec: dict, children: list[Child], stop: StopSignals) -> str | None:
    """Wait until the child answers its probe; return a problem description or None."""
    deadline = time.monotonic() + float(spec.get("ready_timeout", 30))
    while time.monotonic() < deadline and not stop.requested:
        dead = first_dead(children)
        if dead is not None:
            return f"{dead.name} (pid {dead.pid}) {dead.describe_exit()} while starting"
        if is_ready(spec["ready"]):
            return None
        time.sleep(POLL_SECONDS / 2)
    if stop.requested:
        return None
    return f"{spec['name']} did not become ready within {spec.get('ready_timeout', 30)} s"


def start_all(plan: dict, children: list[Child], stop: StopSignals) -> str | None:
    """Start the children in plan order, waiting for those with a readiness probe."""
    for spec in plan["children"]:
        if stop.requested:
            return None
        child = spawn(spec, plan["cwd"])
        children.append(child)
        echo(f"started {child.name} pid={child.pid}")
        if "ready" in spec:
            problem = wait_ready(spec, children, stop)
            if problem:
                return problem
    return None


def watch(children: list[Child], stop: StopSignals) -> str | None:
    """Sleep until a stop signal (None) or a child's death (its description)."""
    while not stop.requested:
        dead = first_dead(children)
        if dead is not None:
            return f"{dead.name} (pid {dead.pid}) {dead.describe_exit()} unexpectedly"
        time.sleep(POLL_SECONDS)
    return None


def stop_tier(group: list[Child], stop: StopSignals, signals_before: int) -> None:
    """SIGTERM the group's leaders, wait out the grace period, then SIGKILL what is left."""
    for child in group:
        if child.running():
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    while any(c.running() for c in group):
        # A further Ctrl-C while stopping means "now": cut the grace period to a second,
        # still enough for Redis to flush its append-only file.
        grace = FORCED_GRACE_SECONDS if stop.count > signals_before else GRACE_SECONDS
        if time.monotonic() - started >= grace:
            break
        time.sleep(POLL_SECONDS / 2)
    for child in group:
        # Also takes down helpers left in the child's group (web server workers, rq work horses).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        child.process.wait()


def stop_all(children: list[Child], stop: StopSignals) -> None:
    """Stop the web server first, then the workers, Redis last; leave no process behind."""
    signals_before = stop.count
    for tier in sorted({child.tier for child in children}, reverse=True):
        group = [child for child in children if child.tier == tier]
        echo("stopping " + ", ".join(child.name for child in group))
        stop_tier(group, stop, signals_before)
    kill_adopted_orphans()


def adopted_pids() -> list[int]:
    """List processes whose parent is this one (children and orphans adopted as subreaper)."""
    own = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # The command name may contain spaces and parentheses; fields resume after the last ')'.
        parent = int(stat.rpartition(")")[2].split()[1])
        if parent == own:
            found.append(int(entry.name))
    return found


def kill_adopted_orphans() -> None:
    """SIGKILL and reap grandchildren orphaned by a killed child (e.g. an rq work horse)."""
    for _ in range(5):  # an orphan's own children may be adopted only after it dies
        pids = adopted_pids()
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def run(plan: dict) -> int:
    """Run the plan until a stop signal or a child's death; return the exit status."""
    stop = StopSignals()
    stop.install()
    # Orphans of our children get re-parented to us, so none can outlive the stack.
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    children: list[Child] = []
    problem = None
    try:
        problem = start_all(plan, children, stop)
        if problem is None and not stop.requested:
            for line in plan.get("greeting", []):
                echo(line)
            problem = watch(children, stop)
        if problem:
            echo(f"{problem}; stopping everything")
    finally:
        stop_all(children, stop)
    echo("stopped")
    return 1 if problem else 0


def main(argv: list[str]) -> int:
    """Entry point: `python -m cli.stack_procs PLAN_JSON`."""
    if len(argv) != 2:
        echo("usage: python -m cli.stack_procs PLAN_JSON (run `flask --app app stack` instead)")
        return 2
    return run(json.loads(argv[1]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
