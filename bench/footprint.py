"""Footprint: start-up time and idle memory of the whole `flask stack`, then a clean stop.

Run: .venv/bin/python -m bench.footprint [--workers 2] [--idle 5]

The stack runs on a temporary instance (migrated, one owner, one running webhook bundle)
without REDIS_URL, so it starts its own Redis. Figures: time from launch to the first
/healthz 200 with every worker live, to the first webhook answered and to its run finished;
RSS and PSS (/proc/<pid>/smaps_rollup) of every process after the idle pause; the stop on
SIGINT and that nothing survives it.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import common

DEFINITION = {"format": 1, "source": {"kind": "webhook"}, "blocks": [
    {"id": "only_numbered", "kind": "filter",
     "conditions": {"any": [{"all": [{"field": "source.n", "op": "exists"}]}]}}]}
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.02


@dataclass
class Member:
    """One process of the running stack and its memory."""

    pid: int
    role: str
    rss_mb: float
    pss_mb: float


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="rq workers of the stack")
    parser.add_argument("--runs", type=int, default=3, help="launches to take the median of")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before measuring")
    parser.add_argument("--quiet", type=float, default=60.0,
                        help="wait at most this long for other processes to go idle first")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser.parse_args()


def main() -> int:
    """Start the stack a few times: time it, measure it idle, stop it, check nothing is left."""
    args = parse_args()
    common.install_stop_signals()
    with common.bench_folder("stack") as folder, common.Processes(folder) as processes:
        env = common.make_instance(folder, None)
        bundle = common.seed_bundle(DEFINITION)
        settings = {**common.machine_settings(), **common.database_settings(),
                    "command": f"flask --app app stack --port <free> --workers {args.workers}",
                    "redis": "its own (no REDIS_URL), on a unix socket in the instance folder",
                    "runs": f"{args.runs} launches of the same (migrated) instance"}
        common.print_block("settings", settings)
        runs = [launch_once(processes, env, bundle, args, number)
                for number in range(1, args.runs + 1)]
    summary = summarise(runs)
    common.print_block(f"median of {len(runs)} launches", summary)
    common.dump_json(args.json, {"settings": settings, "runs": runs, "median": summary})
    clean = all(run["stop"]["processes left running"] == 0 for run in runs)
    return 0 if clean and all("-" not in run["start_up"].values() for run in runs) else 1


def launch_once(processes: common.Processes, env: dict[str, str], bundle: common.BenchBundle,
                args: argparse.Namespace, number: int) -> dict:
    """Launch the stack once and take every figure; always stop it."""
    machine = common.wait_for_quiet(args.quiet)
    port = common.free_port()
    finished_before = finished_runs()
    meter = common.CpuMeter(processes)
    meter.start()
    launched = time.monotonic()
    stack = processes.start(f"stack-{number}", stack_argv(port, args.workers), env)
    try:
        timings = time_start_up(stack, port, bundle, args.workers, launched, finished_before)
        cpu = meter.stop()
        timings_shown = {"machine before the launch": machine, **timings,
                         "cpu while starting (cores busy)": cpu.describe()}
        common.print_block(f"launch {number}: start-up (seconds from launch)", timings_shown)
        time.sleep(args.idle)
        members = stack_members(stack.pid)
        report_memory(members, args.idle, number)
    finally:
        stop = stop_stack(processes, stack, stack_members(stack.pid))
    common.print_block(f"launch {number}: stop on SIGINT", stop)
    return {"start_up": timings, "stop": stop, "cpu": asdict(cpu),
            "processes": [asdict(member) for member in members]}


def summarise(runs: list[dict]) -> dict[str, str]:
    """Return the median start-up figures and memory totals of the launches."""
    summary = {}
    for name in runs[0]["start_up"]:
        values = [float(run["start_up"][name]) for run in runs if run["start_up"][name] != "-"]
        summary[f"{name} (s)"] = f"{statistics.median(values):.2f}" if values else "-"
    for kind in ("rss_mb", "pss_mb"):
        totals = [sum(member[kind] for member in run["processes"]) for run in runs]
        summary[f"total {kind[:3].upper()} (MB)"] = f"{statistics.median(totals):.1f}"
    summary["processes left running"] = sum(run["stop"]["processes left running"]
                                            for run in runs)
    return summary


def stack_argv(port: int, workers: int) -> list[str]:
    """Return the stack command line, through the virtualenv's flask script when present."""
    flask = Path(common.PYTHON).with_name("flask")
    launcher = [str(flask)] if flask.exists() else [common.PYTHON, "-m", "flask"]
    return [*launcher, "--app", "app", "stack", "--port", str(port), "--workers", str(workers)]


def time_start_up(stack: common.Child, port: int, bundle: common.BenchBundle, workers: int,
                  launched: float, finished_before: int) -> dict[str, str]:
    """Poll health and the webhook until both answer and the first run is finished."""
    healthy = answered = finished = None
    deadline = launched + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline and stack.process.poll() is None:
        # Timed when the answer arrives: the port may accept before the app is loaded.
        if healthy is None and live_workers(port) >= workers:
            healthy = time.monotonic() - launched
        if answered is None and post_webhook(port, bundle.token) == 200:
            answered = time.monotonic() - launched
        if answered is not None and finished is None and finished_runs() > finished_before:
            finished = time.monotonic() - launched
        if None not in (healthy, answered, finished):
            break
        time.sleep(POLL_SECONDS)
    if stack.process.poll() is not None:
        raise RuntimeError(f"the stack exited while starting:\n{stack.log_tail()}")
    return {f"/healthz 200 with {workers} workers live": seconds(healthy),
            "first webhook answered 200": seconds(answered),
            "its run finished by a worker": seconds(finished)}


def seconds(value: float | None) -> str:
    """Format seconds, or '-' when the moment never came."""
    return "-" if value is None else f"{value:.2f}"


def live_workers(port: int) -> int:
    """Return workers.live from /healthz when it answers 200, else 0."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        body = response.read()
        return int(json.loads(body)["workers"]["live"]) if response.status == 200 else 0
    except (OSError, ValueError, KeyError):
        return 0
    finally:
        connection.close()


def post_webhook(port: int, token: str) -> int | None:
    """POST one small JSON event to the bundle's webhook; return the status."""
    return common.http_status("127.0.0.1", port, "POST", f"/hooks/{token}",
                              body=b'{"n": 1, "email": "ivan@example.com"}',
                              headers={"Content-Type": "application/json"})


def finished_runs() -> int:
    """Count the runs that reached a final status."""
    from sqlalchemy import func, select

    from models.base import db
    from models.run import Run

    with common.bench_app().app_context():
        count = db.session.scalar(select(func.count(Run.id)).where(
            Run.status.in_(("success", "error", "filtered")))) or 0
        db.session.remove()
    return count


# --- memory --------------------------------------------------------------------------------


def stack_members(root: int) -> list[Member]:
    """Return the stack's supervisor and every descendant, with their role and memory."""
    parents = {pid: int(fields[1]) for pid in common.live_pids()
               if (fields := common.read_stat_fields(pid)) and fields[0] != "Z"}
    members = []
    for pid in sorted(parents):
        if pid == root or descends_from(pid, root, parents):
            rss, pss = memory_mb(pid)
            members.append(Member(pid, role_of(pid, root, parents), rss, pss))
    return members


def descends_from(pid: int, root: int, parents: dict[int, int]) -> bool:
    """Tell whether root is an ancestor of pid."""
    seen = 0
    while pid in parents and seen < 64:
        pid = parents[pid]
        if pid == root:
            return True
        seen += 1
    return False


def role_of(pid: int, root: int, parents: dict[int, int]) -> str:
    """Name a stack process by its command line and its parent."""
    if pid == root:
        return "supervisor (python -m cli.stack_procs)"
    command = cmdline(pid)
    direct = parents.get(pid) == root  # the supervisor's own children, not their forks
    if "redis-server" in command or "valkey-server" in command:
        return "redis-server"
    if "granian" in command:
        return "web server (granian) master" if direct else "web server (granian) worker"
    if "rq.cli" in command or "rq worker" in command:
        return "rq worker" if direct else "rq worker's child (scheduler or horse)"
    return command[:60] or "?"


def cmdline(pid: int) -> str:
    """Return a process's command line, spaces between arguments."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def memory_mb(pid: int) -> tuple[float, float]:
    """Return RSS and PSS of a process in MB, from /proc/<pid>/smaps_rollup."""
    values = {"Rss": 0, "Pss": 0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in values:
                values[name] = int(rest.split()[0])
    except OSError:
        pass
    return values["Rss"] / 1024, values["Pss"] / 1024


def report_memory(members: list[Member], idle: float, number: int) -> None:
    """Print each process's memory and the totals."""
    lines = {f"{member.role} pid {member.pid}": f"RSS {member.rss_mb:6.1f} MB  "
                                                f"PSS {member.pss_mb:6.1f} MB"
             for member in members}
    lines["total"] = (f"RSS {sum(m.rss_mb for m in members):6.1f} MB  "
                      f"PSS {sum(m.pss_mb for m in members):6.1f} MB "
                      f"({len(members)} processes; PSS shares shared pages fairly)")
    common.print_block(f"launch {number}: memory after {idle:g} s idle", lines)


# --- stop ----------------------------------------------------------------------------------


def stop_stack(processes: common.Processes, stack: common.Child,
               members: list[Member]) -> dict[str, str | int]:
    """SIGINT the supervisor, wait for it, and look for any stack process still alive."""
    started = time.monotonic()
    os.kill(stack.pid, signal.SIGINT)
    try:
        code = stack.process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        code = None
    took = time.monotonic() - started
    alive = [member.pid for member in members if is_alive(member.pid)]
    for pid in alive:  # by pid, never by name: only what this benchmark started
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    processes.stop_all()
    return {"stopped after": f"{took:.2f} s" if code is not None else "did not stop",
            "supervisor exit code": "-" if code is None else code,
            "processes left running": len(alive) + len(processes.survivors())}


def is_alive(pid: int) -> bool:
    """Tell whether a process exists and is not a zombie."""
    fields = common.read_stat_fields(pid)
    return bool(fields) and fields[0] != "Z"


if __name__ == "__main__":
    raise SystemExit(main())
