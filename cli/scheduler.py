"""`flask --app app scheduler`: run the scheduler (one leader among any number started)."""

from __future__ import annotations

import signal

import click
from flask.cli import with_appcontext

from workers.dispatch import REDIS_ERRORS
from workers.scheduler import Scheduler


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Tick once and exit (needs the leader lock).")
@click.option("--interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="Seconds between ticks.")
@with_appcontext
def scheduler(once: bool, interval: float) -> None:
    """Start scheduled bundles, retries and recovered runs; stop with Ctrl-C or SIGTERM."""
    runner = Scheduler()
    if once:
        tick_once(runner)
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: runner.stop())
    runner.run_forever(interval)


def tick_once(runner: Scheduler) -> None:
    """Tick once as the leader and print what was done."""
    try:
        counts = runner.run_once()
    except REDIS_ERRORS as error:
        raise click.ClickException(f"Redis is unavailable: {error}") from None
    if counts is None:
        raise click.ClickException("Another scheduler is the leader; nothing was done.")
    click.echo(" ".join(f"{name}={count}" for name, count in counts.items()))


COMMANDS = [scheduler]
