"""Helpers the connection views share: connector lookup, labels, job responses."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from blueprints.connections import bp
from connectors.base import AuthKind, Connector
from connectors.registry import REGISTRY, load_builtin
from models.connection import Connection
from models.connections import metadata_summary
from workers import connection_jobs
from workers.connection_jobs import JobState
from workers.engine.mapping import flatten_fields, to_text

KIND_LABELS = {
    AuthKind.API_KEY.value: _l("API key"),
    AuthKind.OAUTH2.value: _l("OAuth"),
    AuthKind.BASIC.value: _l("Login and password"),
    AuthKind.WEBHOOK.value: _l("Webhook"),
    AuthKind.NONE.value: _l("None"),
}


def connector_class(service: str) -> type[Connector] | None:
    """Return the connector registered for a service, or None when it is gone."""
    load_builtin()
    return REGISTRY.get(service)


def connector_or_404(service: str) -> type[Connector]:
    """Return the connector registered for a service, or answer 404."""
    cls = connector_class(service)
    if cls is None:
        abort(404)
    return cls


@bp.context_processor
def connection_helpers() -> dict:
    """Give connection templates the connector lookup, labels and value helpers."""
    return {"connector_class": connector_class, "kind_labels": KIND_LABELS,
            "metadata_summary": metadata_summary, "flatten_fields": flatten_fields,
            "value_text": value_text}


def value_text(value, limit: int = 200) -> str:
    """Show a sample value as short text."""
    text = to_text(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_htmx() -> bool:
    """Tell whether HTMX sent the request (and expects a fragment)."""
    return bool(request.headers.get("HX-Request"))


def needs_test(cls: type[Connector]) -> bool:
    """Tell whether a new or edited connection is worth testing at once."""
    return cls.auth_kind != AuthKind.WEBHOOK


def start_job(connection: Connection, kind: str):
    """Queue a test or refresh job and answer with the polling state panel (or a redirect)."""
    job_id = connection_jobs.enqueue(kind, connection.id)
    state = JobState(kind, "waiting") if job_id else JobState(kind, "unreachable")
    if is_htmx():
        return render_template("connections/_state.html", connection=connection, job=state,
                               job_id=job_id)
    if job_id is None:
        flash(_("Workers are not reachable; try again in a minute."), "warning")
        return redirect(url_for("connections.show", connection_id=connection.id))
    return redirect(url_for("connections.show", connection_id=connection.id, job=job_id))


def open_connection(connection: Connection, cls: type[Connector]):
    """Go to a connection's page, testing it first when that is worth it."""
    if needs_test(cls):
        return start_job(connection, "test")
    return redirect(url_for("connections.show", connection_id=connection.id))
