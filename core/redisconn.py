"""Redis connections: one cached client per URL, with timeouts short enough to fail fast."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

import redis
from flask import Flask, current_app
from redis.backoff import NoBackoff
from redis.retry import Retry

# A dead or stopped Redis must turn into an error within seconds, never a hung request.
CONNECT_TIMEOUT_SECONDS = 2.0
OPERATION_TIMEOUT_SECONDS = 5.0

# The file name of the socket the `stack` command's own Redis listens on.
LOCAL_SOCKET_NAME = "redis.sock"


def local_socket_path(instance_path: str | Path) -> Path:
    """Return where the `stack` command's own Redis puts its unix socket."""
    return Path(instance_path) / LOCAL_SOCKET_NAME


def redis_url(app_or_config: Flask | Mapping) -> str:
    """Return the configured REDIS_URL, or the local stack's socket when none is set."""
    config = app_or_config.config if isinstance(app_or_config, Flask) else app_or_config
    url = str(config.get("REDIS_URL") or "")
    if url:
        return url
    # Empty means "the stack command runs Redis for us": it listens in the instance folder.
    if isinstance(app_or_config, Flask):
        return f"unix://{local_socket_path(app_or_config.instance_path)}"
    return "redis://127.0.0.1:6379/0"


def get_redis(
    app: Flask | None = None, *, timeout: float = OPERATION_TIMEOUT_SECONDS
) -> redis.Redis:
    """Return the shared Redis client for the app's URL (not for long blocking reads)."""
    return _client_for(redis_url(app or current_app._get_current_object()), float(timeout))


@functools.lru_cache(maxsize=16)
def _client_for(url: str, timeout: float) -> redis.Redis:
    """Build one pooled client per (URL, timeout); redis-py resets pools after fork."""
    # One quick retry covers a pooled connection dropped by a Redis restart; timeouts
    # are not retried because that would multiply the wait.
    retry = Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,))
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=min(CONNECT_TIMEOUT_SECONDS, timeout),
        socket_timeout=timeout,
        retry=retry,
    )


def redis_alive(conn: redis.Redis) -> bool:
    """Tell whether the server answers PING; never raises."""
    try:
        return bool(conn.ping())
    except (redis.exceptions.RedisError, OSError):
        return False
