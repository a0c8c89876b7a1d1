"""Small actions on a connection's page: rename, test, refresh and the panels that poll."""

from __future__ import annotations

from flask import abort, redirect, render_template, url_for

from blueprints.connections import bp
from blueprints.connections.common import is_htmx, start_job
from blueprints.connections.forms import ConnectionNameForm
from core.scoping import editor_required, get_owned_or_404
from models.connection import Connection
from models.connections import bundles_using, rename_connection
from workers.connection_jobs import job_state


@bp.get("/<int:connection_id>/rename")
@editor_required
def rename_form(connection_id: int):
    """Return the inline rename form (the edit page without JavaScript)."""
    connection = get_owned_or_404(Connection, connection_id)
    if not is_htmx():
        return redirect(url_for("connections.edit", connection_id=connection.id))
    form = ConnectionNameForm(data={"name": connection.name})
    return render_template("connections/_rename.html", connection=connection, form=form)


@bp.post("/<int:connection_id>/rename")
@editor_required
def rename(connection_id: int):
    """Rename a connection and return its title."""
    connection = get_owned_or_404(Connection, connection_id)
    form = ConnectionNameForm()
    if not form.validate_on_submit():
        # 200, not 422: HTMX swaps only successful answers, and the errors must show.
        return render_template("connections/_rename.html", connection=connection, form=form)
    rename_connection(connection, form.name.data)
    if not is_htmx():
        return redirect(url_for("connections.show", connection_id=connection.id))
    return render_template("connections/_title.html", connection=connection)


@bp.get("/<int:connection_id>/title")
def title(connection_id: int):
    """Return a connection's title (cancels the inline rename)."""
    connection = get_owned_or_404(Connection, connection_id)
    return render_template("connections/_title.html", connection=connection)


@bp.post("/<int:connection_id>/test")
@editor_required
def test(connection_id: int):
    """Ask a worker to call the service with the connection's credentials."""
    return start_job(get_owned_or_404(Connection, connection_id), "test")


@bp.post("/<int:connection_id>/refresh")
@editor_required
def refresh(connection_id: int):
    """Ask a worker to re-read the service's lists and fields."""
    return start_job(get_owned_or_404(Connection, connection_id), "refresh")


@bp.get("/<int:connection_id>/jobs/<job>")
def job_status(connection_id: int, job: str):
    """Return the state panel; it keeps polling while the job is waiting or running."""
    connection = get_owned_or_404(Connection, connection_id)
    state = job_state(connection.id, job)
    if state is None:
        abort(404)
    panel = render_template("connections/_state.html", connection=connection, job=state,
                            job_id=job)
    if state.state != "done":
        return panel
    # A test may have switched the connection off and blocked bundles: show that too.
    bundles = bundles_using(connection.account_id, [connection.id])[connection.id]
    return panel + render_template("connections/_title.html", connection=connection,
                                   oob=True) + render_template(
        "connections/_bundles.html", bundles=bundles, oob=True)


@bp.get("/<int:connection_id>/sample")
def sample(connection_id: int):
    """Return the webhook sample panel; it polls until a test request has arrived."""
    connection = get_owned_or_404(Connection, connection_id)
    return render_template("connections/_sample.html", connection=connection)
