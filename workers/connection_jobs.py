"""Test and refresh connections in workers, and tell the pages how those jobs are going."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from connectors.base import Connector
from connectors.errors import AuthError, ConnectorError
from connectors.registry import get_connector
from core.crypto import SecretsError
from core.redisconn import get_redis
from models.base import db
from models.connection import Connection, ConnectionStatus
from models.journal import record_event
from workers import dispatch
from workers.outcomes import deactivate_connection
from workers.services import connector_config, shared_http_client

log = logging.getLogger("svyazka.worker")

JOB_FUNCTIONS = {
    "test": "workers.jobs.test_connection",
    "refresh": "workers.jobs.refresh_connection",
}
JOB_TIMEOUT_SECONDS = 120
# Results live long enough for a page that polls them, then Redis forgets them.
RESULT_TTL_SECONDS = 3600
MESSAGE_LIMIT = 500
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
WAITING = frozenset({JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED,
                     JobStatus.SCHEDULED, JobStatus.CREATED})


# --- web side: start a job and follow it -----------------------------------------------


@dataclass(frozen=True)
class JobState:
    """How a connection job is going: waiting, done, failed, lost or unreachable."""

    kind: str
    state: str
    result: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        """Tell whether the page may stop polling."""
        return self.state != "waiting"


def enqueue(kind: str, connection_id: int) -> str | None:
    """Queue a test or refresh job; return its id, or None when Redis is down."""
    try:
        job = dispatch.queue().enqueue(
            JOB_FUNCTIONS[kind], connection_id, job_timeout=JOB_TIMEOUT_SECONDS,
            result_ttl=RESULT_TTL_SECONDS, failure_ttl=RESULT_TTL_SECONDS)
    except dispatch.REDIS_ERRORS as error:
        log.warning("dispatch=%s connection=%s state=redis-down error=%s", kind, connection_id,
                    error)
        return None
    return job.id


def job_state(connection_id: int, job_id: str) -> JobState | None:
    """Return how a connection's job is going; None when the id is not its job."""
    if not JOB_ID.fullmatch(job_id):
        return None
    try:
        job = Job.fetch(job_id, connection=get_redis())
        status = job.get_status()
    except NoSuchJobError:
        return JobState("", "lost")
    except dispatch.REDIS_ERRORS:
        return JobState("", "unreachable")
    kind = next((name for name, path in JOB_FUNCTIONS.items() if path == job.func_name), None)
    if kind is None or list(job.args[:1]) != [connection_id]:
        return None
    if status in WAITING:
        return JobState(kind, "waiting")
    if status == JobStatus.FINISHED:
        return JobState(kind, "done", job.return_value())
    return JobState(kind, "failed")


# --- worker side: the jobs themselves ----------------------------------------------------


def test_connection(connection_id: int) -> dict[str, Any]:
    """Call the service once with the connection's credentials and store the outcome."""
    connection = db.session.get(Connection, connection_id)
    if connection is None:
        return {"ok": False, "message": "The connection was deleted"}
    connector, answer, error = call(connection, "test_connection")
    ok = error is None
    message = success_message(answer) if ok else error
    connection.last_tested_at = datetime.now(UTC)
    connection.last_test_ok = ok
    connection.last_test_message = short(message)
    if ok and not connection.is_active:
        reactivate(connection)
    keep_changed_secrets(connection, connector)
    db.session.commit()
    log.info("job=test_connection connection=%s ok=%s", connection_id, ok)
    return {"ok": ok, "message": connection.last_test_message}


def refresh_connection(connection_id: int) -> dict[str, Any]:
    """Re-read the service's lists and fields so bundle settings offer the new ones."""
    connection = db.session.get(Connection, connection_id)
    if connection is None:
        return {"ok": False, "message": "The connection was deleted"}
    connector, metadata, error = call(connection, "refresh_metadata")
    if error is None:
        connection.service_metadata = dict(metadata or {})
        connection.last_refreshed_at = datetime.now(UTC)
    keep_changed_secrets(connection, connector)
    db.session.commit()
    log.info("job=refresh_connection connection=%s ok=%s", connection_id, error is None)
    return {"ok": error is None, "message": short(error or "Refreshed")}


def call(connection: Connection, method: str) -> tuple[Connector | None, Any, str | None]:
    """Run one connector method; return the connector, its answer and an error message."""
    connector = None
    try:
        connector = build_connector(connection)
        return connector, getattr(connector, method)(), None
    except AuthError as error:
        # Rejected credentials: stop the bundles that use them until someone reconnects.
        deactivate_connection(connection.id, short(error.message))
        return connector, None, error.message
    except ConnectorError as error:
        return connector, None, error.message
    except (SecretsError, KeyError) as error:
        return connector, None, f"The connection cannot be used: {error}"
    except Exception:  # a connector bug must not leave the page waiting forever
        log.exception("job=%s connection=%s state=crashed", method, connection.id)
        return connector, None, "Internal error while calling the service; see worker logs"


def build_connector(connection: Connection) -> Connector:
    """Build the connector of a connection as the workers do for bundle runs."""
    cls = get_connector(connection.service)
    return cls(connector_config(cls, connection.config), connection.read_secrets(),
               http=shared_http_client())


def reactivate(connection: Connection) -> None:
    """Mark a connection active again after a successful test."""
    connection.status = ConnectionStatus.ACTIVE.value
    connection.status_reason = None
    record_event(connection.account_id, "connection_active",
                 f"Connection {connection.name!r} works again", connection_id=connection.id)


def keep_changed_secrets(connection: Connection, connector: Connector | None) -> None:
    """Store secrets the connector renewed on the way (a refreshed OAuth token)."""
    if connector is not None and getattr(connector, "secrets_changed", False):
        connection.write_secrets(dict(connector.secrets))


def success_message(answer: Any) -> str:
    """Describe a successful test, naming the account the service reported."""
    account = answer.get("account") if isinstance(answer, dict) else None
    return f"Connected: {account}" if account else "The service accepted the connection"


def short(message: str) -> str:
    """Cut a message to what fits the connection page."""
    message = " ".join(str(message).split())
    return message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 1] + "…"
