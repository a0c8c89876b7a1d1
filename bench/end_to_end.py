"""End to end: webhook events through a filter + HTTP action bundle, delivered by rq workers.

Run: .venv/bin/python -m bench.end_to_end [--events 5000] [--rate 100] [--workers 1,2]

For each worker count: (a) saturation: N events stored as received inbox rows, one drain
job asked for, delivered actions/s until the sink has them all and every run is final;
(b) latency: an open-loop sender posts to the real intake (the production web server) at a
fixed rate, and receipt-to-delivery latency is the sink's receive time minus the send time in
the payload.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field

from bench import common
from tests.fakes.http_sink import HttpSink, RecordedRequest, SinkResponse

FILTER_BLOCK = {"id": "only_numbered", "kind": "filter",
                "conditions": {"any": [{"all": [{"field": "source.seq", "op": "exists"}]}]}}
FORWARDED = {"seq": "{{source.seq}}", "phase": "{{source.phase}}", "sent": "{{source.sent}}"}
FINAL_STATUSES = ("success", "error", "filtered")
POLL_SECONDS = 0.05


def bundle_definition(sink_url: str) -> dict:
    """A filter that passes numbered events, then a POST of their fields to the sink."""
    deliver = {"id": "deliver", "kind": "receiver", "service": "http_request",
               "connection": None, "action": "request",
               "params": {"method": "POST", "url": f"{sink_url}/deliver", "body_type": "json",
                          "body": FORWARDED}}
    return {"format": 1, "source": {"kind": "webhook"}, "blocks": [FILTER_BLOCK, deliver]}


class TimedSink(HttpSink):
    """An HttpSink that notes when each delivery arrived, grouped by the payload's phase."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[str, list[tuple[float, int, float]]] = defaultdict(list)
        self.arrival_lock = threading.Lock()

    def _record(self, request: RecordedRequest) -> SinkResponse:
        arrived = time.time()
        body = json.loads(request.body)
        with self.arrival_lock:
            self.arrivals[body["phase"]].append((arrived, int(body["seq"]), float(body["sent"])))
        return super()._record(request)

    def count(self, phase: str) -> int:
        """Return how many deliveries of a phase arrived."""
        with self.arrival_lock:
            return len(self.arrivals[phase])

    def of(self, phase: str) -> list[tuple[float, int, float]]:
        """Return (arrival time, seq, send time) of every delivery of a phase."""
        with self.arrival_lock:
            return list(self.arrivals[phase])


@dataclass
class PhaseResult:
    """The figures and checks of one measured phase."""

    name: str
    workers: int
    events: int
    delivered: int = 0
    distinct: int = 0
    succeeded: int = 0
    unfinished: int = 0
    refused: int = 0  # requests the intake did not answer with 200
    figures: dict[str, str] = field(default_factory=dict)

    @property
    def lossless(self) -> bool:
        """Tell whether every event was delivered exactly once and its run succeeded."""
        return (self.delivered == self.distinct == self.succeeded == self.events
                and self.unfinished == 0 and self.refused == 0)


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000, help="events in the saturation run")
    parser.add_argument("--rate", type=float, default=100.0, help="events/s in the latency run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency run")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--worker-class", choices=sorted(common.WORKER_CLASSES),
                        default="simple")
    parser.add_argument("--timeout", type=float, default=300.0, help="limit per phase, seconds")
    common.add_shared_options(parser)
    return parser.parse_args()


def main() -> int:
    """Run both phases for each worker count; print settings, figures and checks."""
    args = parse_args()
    common.install_stop_signals()
    web = common.WebConfig(args.web_workers, args.threads)
    worker_class = common.WORKER_CLASSES[args.worker_class]
    results: list[PhaseResult] = []
    with common.bench_folder("e2e") as folder, common.Processes(folder) as processes, \
            TimedSink() as sink:
        redis_url = common.start_redis(processes)
        env = common.make_instance(folder, redis_url, ALLOW_PRIVATE_NETWORK="true")
        bundle = common.seed_bundle(bundle_definition(sink.url))
        base_url = common.start_web(processes, env, web)
        settings = describe_settings(web, worker_class, redis_url, args)
        common.print_block("settings", settings)
        for count in [int(value) for value in args.workers.split(",") if value.strip()]:
            workers = common.start_workers(processes, env, count, worker_class)
            results.append(saturation(processes, sink, bundle, count, args))
            report(results[-1])
            results.append(latency(processes, sink, base_url, bundle, count, args))
            report(results[-1])
            for worker in workers:
                processes.stop(worker)
        processes.stop_all()
        survivors = processes.survivors()
    common.print_block("checks", {
        "every request answered 200, every event delivered once, its run a success":
            all(r.lossless for r in results),
        "processes left running": len(survivors)})
    common.dump_json(args.json, {"settings": settings,
                                 "phases": [asdict(result) for result in results]})
    return 0 if all(r.lossless for r in results) and not survivors else 1


def describe_settings(web: common.WebConfig, worker_class: str, redis_url: str,
                      args: argparse.Namespace) -> dict[str, str]:
    """Collect every setting the figures depend on."""
    batch = common.bench_app().config.get("DRAIN_BATCH_SIZE")
    return {**common.machine_settings(), **common.database_settings(),
            **common.redis_settings(redis_url),
            "workers": f"rq worker --worker-class {worker_class}, counts {args.workers} "
                       f"(each with svyazka's scheduler thread); drain batch {batch} events",
            "web (latency run)": web.describe(),
            "bundle": "webhook -> filter (source.seq exists) -> http_request POST JSON "
                      "to an HttpSink on 127.0.0.1 (keep-alive, TCP_NODELAY)",
            "saturation run": f"{args.events} events stored as received rows, then one drain "
                              "job; clock from that request to the last delivery",
            "latency run": f"open-loop sender, {args.rate:g} events/s for {args.seconds:g} s "
                           "through POST /hooks/<token>"}


# --- (a) saturation ------------------------------------------------------------------------


def saturation(processes: common.Processes, sink: TimedSink, bundle: common.BenchBundle,
               workers: int, args: argparse.Namespace) -> PhaseResult:
    """Store N events, request one drain and time the deliveries."""
    phase = f"saturation-{workers}"
    machine = common.wait_for_quiet(args.quiet)  # before storing: the sweeper would drain
    first_run = next_run_id()
    store_received_events(bundle, phase, args.events)
    meter = common.CpuMeter(processes)
    meter.start()
    started = time.time()
    request_drain(bundle.id)
    wait_delivered(sink, phase, args.events, first_run, args.timeout)
    finished = time.time()
    cpu = meter.stop()
    arrivals = sorted(arrival for arrival, _, _ in sink.of(phase))
    result = check(PhaseResult(phase, workers, args.events), sink, phase, first_run)
    span = arrivals[-1] - started if arrivals else float("nan")
    result.figures = {
        "machine before the run": machine,
        "delivered actions/s": f"{len(arrivals) / span:,.0f}" if arrivals else "0",
        "first / last delivery after": (f"{(arrivals[0] - started) * 1000:.0f} ms / "
                                        f"{span:.2f} s" if arrivals else "-"),
        "every run final after": f"{finished - started:.2f} s",
        "cpu (cores busy)": cpu.describe(),
        "server cpu per action": f"{cpu.ours * cpu.seconds / args.events * 1000:.2f} ms "
                                 "(workers, Redis, idle web)",
    }
    return result


def store_received_events(bundle: common.BenchBundle, phase: str, count: int) -> None:
    """Insert events as the intake stores them, in one transaction, without a drain job."""
    from sqlalchemy import insert

    from models.base import db
    from models.inbox import InboxEvent, InboxStatus

    rows = []
    for seq in range(count):
        payload = {"seq": seq, "phase": phase, "sent": 0.0}
        body = json.dumps(payload).encode()
        rows.append({"account_id": bundle.account_id, "bundle_id": bundle.id,
                     "status": InboxStatus.RECEIVED.value, "method": "POST",
                     "headers": {"Content-Type": "application/json"}, "query": {},
                     "content_type": "application/json", "body": body, "payload": payload,
                     "size": len(body)})
    with common.bench_app().app_context():
        db.session.execute(insert(InboxEvent), rows)
        db.session.commit()
        db.session.remove()


def request_drain(bundle_id: int) -> None:
    """Ask the workers to drain the bundle's inbox, as the intake does."""
    from workers import dispatch

    with common.bench_app().app_context():
        if not dispatch.enqueue_drain(bundle_id, force=True):
            raise RuntimeError("Redis refused the drain job")


# --- (b) latency ---------------------------------------------------------------------------


def latency(processes: common.Processes, sink: TimedSink, base_url: str,
            bundle: common.BenchBundle, workers: int, args: argparse.Namespace) -> PhaseResult:
    """Post at a fixed rate through the intake and time each event until its delivery."""
    phase = f"latency-{workers}"
    machine = common.wait_for_quiet(args.quiet)
    first_run = next_run_id()
    sender = common.OpenLoopSender(base_url, f"/hooks/{bundle.token}", args.rate, args.seconds)
    meter = common.CpuMeter(processes)
    meter.start()
    sent = sender.run(lambda seq, at: {"seq": seq, "phase": phase, "sent": at})
    accepted = sum(1 for item in sent if item.status == 200)
    wait_delivered(sink, phase, accepted, first_run, args.timeout)
    cpu = meter.stop()
    result = check(PhaseResult(phase, workers, accepted, refused=len(sent) - accepted), sink,
                   phase, first_run)
    delays = [arrival - sent_at for arrival, _, sent_at in sink.of(phase)]
    answers = [item.answered - item.sent for item in sent]
    lag = max((item.sent - item.due for item in sent), default=0.0)
    result.figures = {
        "machine before the run": machine,
        "receipt-to-delivery p50 / p90 / p99 / max": milliseconds(delays),
        "intake answer p50 / p90 / p99 / max": milliseconds(answers),
        "sent / answered 200": f"{len(sent)} / {accepted} (sender at most {lag * 1000:.1f} ms "
                               "behind schedule)",
        "cpu (cores busy)": cpu.describe(),
    }
    return result


def milliseconds(values: list[float]) -> str:
    """Format p50 / p90 / p99 / max of durations in seconds as milliseconds."""
    if not values:
        return "-"
    marks = [common.percentile(values, q) for q in (0.5, 0.9, 0.99)] + [max(values)]
    return " / ".join(f"{mark * 1000:.1f}" for mark in marks) + " ms"


# --- shared --------------------------------------------------------------------------------


def wait_delivered(sink: TimedSink, phase: str, expected: int, first_run: int,
                   timeout: float) -> None:
    """Wait until the sink has every delivery of the phase and every run is final."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sink.count(phase) >= expected and unfinished_runs(first_run) == 0:
            return
        time.sleep(POLL_SECONDS)
    print(f"  ! {phase}: gave up after {timeout:g} s with {sink.count(phase)}/{expected} "
          "delivered")


def check(result: PhaseResult, sink: TimedSink, phase: str, first_run: int) -> PhaseResult:
    """Fill in the loss checks of a phase from the sink and the journal."""
    arrivals = sink.of(phase)
    result.delivered = len(arrivals)
    result.distinct = len({seq for _, seq, _ in arrivals})
    result.succeeded = runs_with_status(first_run, ("success",))
    result.unfinished = unfinished_runs(first_run)
    return result


def next_run_id() -> int:
    """Return the id the next run will get (runs of a phase have ids from here on)."""
    from sqlalchemy import func, select

    from models.base import db
    from models.run import Run

    with common.bench_app().app_context():
        last = db.session.scalar(select(func.max(Run.id))) or 0
        db.session.remove()
    return last + 1


def runs_with_status(first_run: int, statuses: tuple[str, ...]) -> int:
    """Count the runs of a phase in the given statuses."""
    from sqlalchemy import func, select

    from models.base import db
    from models.run import Run

    with common.bench_app().app_context():
        count = db.session.scalar(select(func.count(Run.id)).where(
            Run.id >= first_run, Run.status.in_(statuses))) or 0
        db.session.remove()
    return count


def unfinished_runs(first_run: int) -> int:
    """Count the runs of a phase that are not final, and events not yet turned into runs."""
    from sqlalchemy import func, select

    from models.base import db
    from models.inbox import InboxEvent, InboxStatus
    from models.run import Run

    with common.bench_app().app_context():
        runs = db.session.scalar(select(func.count(Run.id)).where(
            Run.id >= first_run, Run.status.not_in(FINAL_STATUSES))) or 0
        waiting = db.session.scalar(select(func.count(InboxEvent.id)).where(
            InboxEvent.status == InboxStatus.RECEIVED.value)) or 0
        db.session.remove()
    return runs + waiting


def report(result: PhaseResult) -> None:
    """Print a phase's figures and checks."""
    common.print_block(f"{result.name}: {result.workers} worker(s), {result.events} events", {
        **result.figures,
        "delivered / distinct / successful runs": (f"{result.delivered} / {result.distinct} / "
                                                   f"{result.succeeded}"),
        "nothing lost": "yes" if result.lossless else "NO",
    })


if __name__ == "__main__":
    raise SystemExit(main())
