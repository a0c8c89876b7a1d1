"""`flask --app app stack`: run everything svyazka needs on one machine."""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import socket
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from cli.stack_procs import WEB_THREADS, reachable_host, web_spec, worker_spec
from cli.stack_redis import plan_redis

DEFAULT_WORKER_CLASS = "simple"


@click.command("stack")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", "worker_count", default=2, show_default=True,
              type=click.IntRange(1, 32), help="RQ worker processes.")
@click.option("--web-workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help=f"web server (Granian) processes, {WEB_THREADS} threads each.")
@with_appcontext
def stack(host: str, port: int, worker_count: int, web_workers: int) -> None:
    """Run migrations, Redis, the workers and the web server until Ctrl-C."""
    app: Flask = current_app._get_current_object()
    require_modules("granian", "rq")
    require_free_port(host, port)
    apply_migrations(app)
    redis_spec, redis_url = plan_redis(app)
    export_environment(app, redis_url)
    children = [redis_spec] if redis_spec else []
    # The web server first: webhooks are accepted (and kept) while the workers still load.
    children.append(web_spec(host, port, web_workers))
    children += worker_specs(worker_count, worker_class(app))
    plan = {"cwd": app.root_path, "children": children, "greeting": greeting(host, port)}
    become_supervisor(app, plan)


def require_modules(*names: str) -> None:
    """Stop with a one-line hint when a module the stack runs is not installed."""
    for name in names:
        if importlib.util.find_spec(name) is None:
            pip = Path(sys.executable).with_name("pip")
            raise click.ClickException(
                f"{name} is not installed for {sys.executable}; "
                f"run: {pip} install -r requirements.txt"
            )


def require_free_port(host: str, port: int) -> None:
    """Stop with a one-line error when the web port is taken or the address is unusable."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the web server binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"port {port} on {host} is already in use; pick another with --port"
                ) from None
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def apply_migrations(app: Flask) -> None:
    """Bring the database schema up to date, or say why there is nothing to apply."""
    from cli.schema_check import schema_is_current
    from models.base import db

    versions = Path(app.extensions["migrate"].directory) / "versions"
    if not any(versions.glob("*.py")):
        click.echo(f"stack: no migrations in {versions}; database left as it is")
        return
    if schema_is_current(db.engine, versions):
        return
    import flask_migrate

    try:
        flask_migrate.upgrade()
    except Exception as exc:  # noqa: BLE001 - one line for the operator, not a traceback
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise click.ClickException(f"database upgrade failed: {first_line[:200]}") from None


def export_environment(app: Flask, redis_url: str) -> None:
    """Put what every child needs into the environment they inherit."""
    os.environ["SVYAZKA_INSTANCE_PATH"] = app.instance_path
    # Both spellings: a prefixed variable would otherwise override the plain one.
    os.environ["REDIS_URL"] = redis_url
    os.environ["SVYAZKA_REDIS_URL"] = redis_url
    os.environ["RQ_REDIS_URL"] = redis_url  # read by `rq worker`; argv would show it in ps
    os.environ["PYTHONUNBUFFERED"] = "1"  # logs reach the terminal as they happen


def worker_specs(count: int, dotted_class: str) -> list[dict]:
    """Describe `count` RQ workers listening on every queue."""
    from workers.runtime import QUEUES

    return [worker_spec(n, dotted_class, QUEUES) for n in range(1, count + 1)]


def worker_class(app: Flask) -> str:
    """Return the RQ worker class from SVYAZKA_WORKER_CLASS ("fork", "simple" or dotted)."""
    from werkzeug.utils import ImportStringError, import_string

    from workers.runtime import WORKER_CLASSES

    # "simple" by default: forking a work horse per job put 0.3-0.5 s on the p99 of a webhook's
    # delivery at 100 events/s on 2 cores, against 35-80 ms without (bench/end_to_end.py).
    chosen = str(app.config.get("WORKER_CLASS") or DEFAULT_WORKER_CLASS)
    dotted = WORKER_CLASSES.get(chosen, chosen)
    try:
        import_string(dotted)
    except ImportStringError:
        raise click.ClickException(
            f"SVYAZKA_WORKER_CLASS={chosen!r} cannot be imported; use fork, simple "
            "or a dotted path to an rq.Worker subclass"
        ) from None
    return dotted


def greeting(host: str, port: int) -> list[str]:
    """Tell the operator where svyazka is and what to do first."""
    shown = reachable_host(host)
    url = f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"
    first_step = "log in" if users_exist() else "create your workspace"
    return [f"svyazka is running: open {url} and {first_step}",
            "press Ctrl-C to stop everything"]


def users_exist() -> bool:
    """Tell whether setup was done; a database without tables counts as fresh."""
    try:
        from models.account import any_user_exists

        return any_user_exists()
    except Exception:  # noqa: BLE001 - e.g. no tables yet: the first step is setup
        return False


def become_supervisor(app: Flask, plan: dict) -> None:
    """Replace this process (and its loaded app) with the lean supervisor."""
    from models.base import db

    db.session.remove()
    db.engine.dispose()  # close database files before exec
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(app.root_path)  # `-m cli.stack_procs` is found relative to the project root
    argv = [sys.executable, "-u", "-m", "cli.stack_procs", json.dumps(plan)]
    try:
        os.execv(sys.executable, argv)
    except OSError as exc:
        raise click.ClickException(f"cannot start the supervisor: {exc.strerror}") from None


COMMANDS = [stack]
