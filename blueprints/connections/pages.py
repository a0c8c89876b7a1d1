"""Connection pages: the list, adding, the connection's own page, settings and deleting."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from blueprints.connections import bp
from blueprints.connections.common import (
    connector_class,
    connector_or_404,
    is_htmx,
    open_connection,
)
from blueprints.connections.forms import connection_form
from blueprints.connections.oauth import start_oauth
from connectors.base import AuthKind
from connectors.registry import all_connectors
from core.scoping import editor_required, get_owned_or_404, owned
from models.base import db
from models.connection import Connection
from models.connections import (
    bundles_using,
    connection_details,
    create_connection,
    default_name,
    delete_connection,
    update_connection,
)
from models.setting import oauth_client_credentials
from workers.connection_jobs import job_state


@bp.get("/")
def index():
    """List the account's connections, optionally searched by name or service."""
    query = request.args.get("q", "").strip()
    stmt = owned(Connection).order_by(Connection.name)
    if query:
        stmt = stmt.where(
            Connection.name.icontains(query, autoescape=True)
            | Connection.service.icontains(query, autoescape=True)
        )
    connections = db.session.scalars(stmt).all()
    used_by = bundles_using(current_user.account_id, [c.id for c in connections])
    template = "connections/_rows.html" if is_htmx() else "connections/index.html"
    return render_template(template, connections=connections, query=query,
                           bundle_counts={key: len(found) for key, found in used_by.items()})


@bp.get("/new")
@editor_required
def choose_service():
    """Show the services a connection can be added for."""
    return render_template("connections/new.html", services=all_connectors())


@bp.route("/new/<service>", methods=["GET", "POST"])
@editor_required
def create(service: str):
    """Add a connection of a service from its declared fields."""
    cls = connector_or_404(service)
    form = connection_form(cls, name=default_name(current_user.account_id, cls))
    if form.validate_on_submit():
        config, auth = form.values()
        if cls.auth_kind == AuthKind.OAUTH2:
            return start_oauth(cls, config, name=form.name.data)
        connection = create_connection(current_user.account_id, cls, form.name.data, config,
                                       auth, current_user)
        flash(_("Connection %(name)s added.", name=connection.name), "success")
        return open_connection(connection, cls)
    status = 422 if form.errors else 200
    oauth_missing = (cls.auth_kind == AuthKind.OAUTH2
                     and oauth_client_credentials(cls.key) is None)
    return render_template("connections/form.html", form=form, cls=cls, connection=None,
                           oauth_missing=oauth_missing), status


@bp.get("/<int:connection_id>")
def show(connection_id: int):
    """Show a connection: details, status, last test, metadata and the bundles using it."""
    connection = get_owned_or_404(Connection, connection_id)
    job_id = request.args.get("job", "")
    job = job_state(connection.id, job_id) if job_id else None
    cls = connector_class(connection.service)
    return render_template(
        "connections/show.html", connection=connection, cls=cls,
        details=connection_details(connection, cls),
        bundles=bundles_using(connection.account_id, [connection.id])[connection.id],
        job=job, job_id=job_id if job else None)


@bp.route("/<int:connection_id>/edit", methods=["GET", "POST"])
@editor_required
def edit(connection_id: int):
    """Change a connection's name and settings; blank secrets keep their stored values."""
    connection = get_owned_or_404(Connection, connection_id)
    cls = connector_class(connection.service)
    if cls is None:
        abort(404)
    form = connection_form(cls, connection)
    if form.validate_on_submit():
        config, auth = form.values()
        update_connection(connection, form.name.data, config, auth)
        flash(_("Settings of %(name)s saved.", name=connection.name), "success")
        return open_connection(connection, cls)
    status = 422 if form.errors else 200
    return render_template("connections/form.html", form=form, cls=cls,
                           connection=connection), status


@bp.route("/<int:connection_id>/delete", methods=["GET", "POST"])
@editor_required
def delete(connection_id: int):
    """Confirm, then delete a connection for good and pause the bundles that use it."""
    connection = get_owned_or_404(Connection, connection_id)
    if request.method == "GET":
        bundles = bundles_using(connection.account_id, [connection.id])[connection.id]
        return render_template("connections/delete.html", connection=connection,
                               bundles=bundles)
    name = connection.name
    paused = delete_connection(connection, current_user)
    message = _("Connection %(name)s deleted.", name=name)
    if paused:
        message += " " + _("Bundles switched off: %(count)d.", count=len(paused))
    flash(message, "success")
    return redirect(url_for("connections.index"))
