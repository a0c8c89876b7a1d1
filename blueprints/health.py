"""`/healthz`: is the database, Redis and at least one worker up?"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import redis
from flask import Blueprint, jsonify
from rq import Worker
from sqlalchemy import text
from sqlalchemy.engine import Engine

from core.redisconn import get_redis
from core.web import public
from models.base import db

bp = Blueprint("health", __name__)

# No single check may hold a monitoring probe for longer than this.
CHECK_TIMEOUT_SECONDS = 2.0
MAX_ERROR_LENGTH = 160

# The database call runs here so a hung connect can be abandoned after the timeout;
# two threads are enough because a stuck one only makes later probes time out too.
_db_probe_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="healthz-db")


@bp.get("/healthz")
@public
def healthz():
    """Report the health of the database, Redis and the workers; 503 unless all are up."""
    database = check_database()
    redis_status, conn = check_redis()
    workers = count_live_workers(conn) if conn is not None else {"live": 0}
    ok = database["ok"] and redis_status["ok"] and workers["live"] >= 1
    body = {"ok": ok, "database": database, "redis": redis_status, "workers": workers}
    return jsonify(body), 200 if ok else 503


def check_database() -> dict:
    """Run SELECT 1 with a deadline."""
    try:
        engine = db.engine
        _db_probe_pool.submit(select_one, engine).result(timeout=CHECK_TIMEOUT_SECONDS)
    except FutureTimeout:
        return {"ok": False, "error": f"no answer within {CHECK_TIMEOUT_SECONDS:g} s"}
    except Exception as exc:  # noqa: BLE001 - a health check reports, it never raises
        return {"ok": False, "error": short_error(exc)}
    return {"ok": True}


def select_one(engine: Engine) -> None:
    """Open a connection and run SELECT 1 on it."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def check_redis() -> tuple[dict, redis.Redis | None]:
    """PING Redis; return the status and the connection when it answered."""
    try:
        conn = get_redis(timeout=CHECK_TIMEOUT_SECONDS)
        conn.ping()
    except Exception as exc:  # noqa: BLE001 - a health check reports, it never raises
        return {"ok": False, "error": short_error(exc)}, None
    return {"ok": True}, conn


def count_live_workers(conn: redis.Redis) -> dict:
    """Count RQ workers whose registration has not expired."""
    try:
        # Worker.all drops registrations whose key expired, i.e. workers that stopped
        # sending heartbeats.
        return {"live": len(Worker.all(connection=conn))}
    except Exception as exc:  # noqa: BLE001 - a health check reports, it never raises
        return {"live": 0, "error": short_error(exc)}


def short_error(exc: BaseException) -> str:
    """Describe an exception in one short line."""
    first_line = (str(exc).strip().splitlines() or [""])[0]
    message = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
    return message[:MAX_ERROR_LENGTH]
