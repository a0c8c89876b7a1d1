"""Webhook intake: requests/s and p50/p99 of POST /hooks/<token> on Granian, all stored.

Run: .venv/bin/python -m bench.intake [--duration 12] [--connections 16,64]

Redis runs (every request asks for a drain job) but no worker does: the inbox only grows,
while the queue holds a single drain job thanks to the per-bundle pending marker.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import common

BODY = '{"email":"ivan@example.com","name":"Ivan","phone":"+79990001122","amount":1500}'
DEFINITION = {"format": 1, "source": {"kind": "webhook"}, "blocks": []}
SETTLE_SECONDS = 1.0  # requests in flight when the load stops are stored meanwhile

WRK_SCRIPT = """
-- POST a small JSON body; count sent requests and answers by status in every thread.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) sent = 0; ok = 0; other = 0 end
wrk.method = "POST"
wrk.body = 'BODY_JSON'
wrk.headers["Content-Type"] = "application/json"
function request() sent = sent + 1; return wrk.format() end
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  local s, o, x = 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("sent"); o = o + t:get("ok"); x = x + t:get("other")
  end
  local e = summary.errors
  io.write(string.format("BENCH sent=%d ok=%d other=%d requests=%d duration_us=%d\\n",
    s, o, x, summary.requests, summary.duration))
  io.write(string.format("BENCH errors connect=%d read=%d write=%d timeout=%d\\n",
    e.connect, e.read, e.write, e.timeout))
  io.write(string.format("BENCH latency_us p50=%d p90=%d p99=%d max=%d\\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
""".replace("BODY_JSON", BODY)


@dataclass
class LoadResult:
    """What one load run produced and what the database holds afterwards."""

    connections: int
    seconds: float
    sent: int
    ok: int
    other: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    stored: int
    cpu: common.CpuUse | None = None
    machine: str = ""

    @property
    def rate(self) -> float:
        """Return the 2xx answers per second."""
        return self.ok / self.seconds

    @property
    def in_flight(self) -> int:
        """Return the requests sent but unanswered when the load generator stopped."""
        return self.sent - self.ok - self.other


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=12.0, help="seconds per load run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up")
    parser.add_argument("--connections", default="16,64", help="comma-separated counts")
    parser.add_argument("--load-threads", type=int, default=2, help="wrk threads")
    common.add_shared_options(parser)
    return parser.parse_args()


def main() -> int:
    """Run the benchmark and print the settings and figures."""
    args = parse_args()
    common.install_stop_signals()
    web = common.WebConfig(args.web_workers, args.threads)
    with common.bench_folder("intake") as folder, common.Processes(folder) as processes:
        redis_url = common.start_redis(processes)
        env = common.make_instance(folder, redis_url)
        bundle = common.seed_bundle(DEFINITION)
        base_url = common.start_web(processes, env, web)
        settings = describe_settings(web, redis_url, args)
        common.print_block("settings", settings)
        url = f"{base_url}/hooks/{bundle.token}"
        results = run_loads(url, processes, args)
        queue = queue_state(redis_url)
        processes.stop_all()
        survivors = processes.survivors()
    report(results, queue, survivors)
    common.dump_json(args.json, {"settings": settings, "queue": queue,
                                 "runs": [asdict(result) for result in results]})
    return 0 if all_stored(results) and not survivors else 1


def describe_settings(web: common.WebConfig, redis_url: str,
                      args: argparse.Namespace) -> dict[str, str]:
    """Collect every setting the figures depend on."""
    load = (f"wrk {args.load_threads} threads, keep-alive, closed loop, {args.duration:g} s per "
            f"run after {args.warmup:g} s warm-up" if shutil.which("wrk") else
            "Python open-loop sender (wrk is missing: apt-get install wrk)")
    return {**common.machine_settings(), "web": web.describe(),
            **common.database_settings(), **common.redis_settings(redis_url),
            "workers": "none: the inbox only grows; the queue keeps one drain job per bundle",
            "request": f"POST /hooks/<token>, JSON body of {len(BODY)} bytes",
            "load": load}


def run_loads(url: str, processes: common.Processes,
              args: argparse.Namespace) -> list[LoadResult]:
    """Warm up, then load the endpoint at each connection count in turn."""
    counts = [int(value) for value in args.connections.split(",") if value.strip()]
    if shutil.which("wrk") is None:
        return [measured(processes, args.quiet, lambda: python_load(url, args.duration))]
    script = processes.folder / "post.lua"
    script.write_text(WRK_SCRIPT)
    wrk_load(url, script, counts[0], args.warmup, args.load_threads)
    return [measured(processes, args.quiet, lambda count=count: wrk_load(
        url, script, count, args.duration, args.load_threads)) for count in counts]


def measured(processes: common.Processes, quiet: float, load) -> LoadResult:
    """Wait for a quiet machine, run a load and note how busy the cores were meanwhile."""
    machine = common.wait_for_quiet(quiet)
    meter = common.CpuMeter(processes)
    meter.start()
    result = load()
    result.cpu = meter.stop()
    result.machine = machine
    return result


def wrk_load(url: str, script: Path, connections: int, seconds: float,
             load_threads: int) -> LoadResult:
    """Run wrk once and count the inbox rows it added."""
    before = stored_events()
    argv = ["wrk", "-t", str(min(load_threads, connections)), "-c", str(connections),
            "-d", f"{seconds:g}s", "--timeout", "5s", "--latency", "-s", str(script), url]
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    time.sleep(SETTLE_SECONDS)
    return parse_wrk(completed.stdout, connections, stored_events() - before)


def parse_wrk(output: str, connections: int, stored: int) -> LoadResult:
    """Read the BENCH lines the Lua script printed."""
    values = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", " ".join(
        line for line in output.splitlines() if line.startswith("BENCH")))}
    if "sent" not in values:
        raise RuntimeError(f"wrk printed no figures:\n{output[-2000:]}")
    errors = sum(values[key] for key in ("connect", "read", "write", "timeout"))
    return LoadResult(connections=connections, seconds=values["duration_us"] / 1e6,
                      sent=values["sent"], ok=values["ok"], other=values["other"],
                      socket_errors=errors, p50_ms=values["p50"] / 1000,
                      p90_ms=values["p90"] / 1000, p99_ms=values["p99"] / 1000,
                      max_ms=values["max"] / 1000, stored=stored)


def python_load(url: str, seconds: float, rate: float = 1500.0) -> LoadResult:
    """Fallback without wrk: an open-loop sender at a fixed rate."""
    base, _, path = url.partition("/hooks/")
    before = stored_events()
    sender = common.OpenLoopSender(base, f"/hooks/{path}", rate, seconds, connections=32)
    results = sender.run(lambda number, sent: {"n": number, "sent": sent})
    time.sleep(SETTLE_SECONDS)
    latencies = [sent.answered - sent.sent for sent in results]
    ok = sum(1 for sent in results if sent.status and 200 <= sent.status < 300)
    failed = sum(1 for sent in results if sent.status is None)
    span = max(sent.answered for sent in results) - min(sent.sent for sent in results)
    return LoadResult(connections=32, seconds=span, sent=len(results), ok=ok,
                      other=len(results) - ok - failed, socket_errors=failed,
                      p50_ms=common.percentile(latencies, 0.5) * 1000,
                      p90_ms=common.percentile(latencies, 0.9) * 1000,
                      p99_ms=common.percentile(latencies, 0.99) * 1000,
                      max_ms=max(latencies) * 1000, stored=stored_events() - before)


def stored_events() -> int:
    """Count the inbox rows in the benchmark database."""
    from sqlalchemy import func, select

    from models.base import db
    from models.inbox import InboxEvent

    with common.bench_app().app_context():
        count = db.session.scalar(select(func.count(InboxEvent.id))) or 0
        db.session.remove()
    return count


def queue_state(redis_url: str) -> dict[str, int]:
    """Report how many jobs wait in the queue after the load (no worker took any)."""
    import redis
    from rq import Queue

    client = redis.Redis.from_url(redis_url)
    waiting = Queue("default", connection=client).count
    client.close()
    return {"jobs waiting in the queue": waiting}


def all_stored(results: list[LoadResult]) -> bool:
    """Tell whether every 2xx answer has its row (and no row lacks a request)."""
    return all(result.ok <= result.stored <= result.ok + result.in_flight
               and result.other == 0 for result in results)


def report(results: list[LoadResult], queue: dict[str, int], survivors: list[int]) -> None:
    """Print one block per load run and the checks."""
    for result in results:
        extra = result.stored - result.ok
        common.print_block(f"{result.connections} connections", {
            "machine before the run": result.machine,
            "requests/s (2xx)": f"{result.rate:,.0f}",
            "latency p50 / p90 / p99 / max": (f"{result.p50_ms:.1f} / {result.p90_ms:.1f} / "
                                              f"{result.p99_ms:.1f} / {result.max_ms:.1f} ms"),
            "answered 2xx / other / socket errors": (f"{result.ok} / {result.other} / "
                                                     f"{result.socket_errors}"),
            "inbox rows added": (f"{result.stored} = {result.ok} answered 2xx + {extra} in "
                                 f"flight when wrk stopped (of {result.in_flight})"),
            "every 2xx stored": "yes" if result.ok <= result.stored else "NO",
            "cpu (cores busy)": result.cpu.describe() if result.cpu else "?",
            "server cpu per request": (f"{result.cpu.ours / result.rate * 1000:.2f} ms"
                                       if result.cpu and result.ok else "?"),
        })
    common.print_block("after the load", {**queue,
                                           "processes left running": len(survivors)})


if __name__ == "__main__":
    raise SystemExit(main())
