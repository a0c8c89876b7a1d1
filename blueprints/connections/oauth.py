"""OAuth connections: send the user to the provider, take the code back, store the tokens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import abort, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from blueprints.connections import bp
from blueprints.connections.common import connector_or_404, open_connection
from connectors.base import AuthKind, Connector
from connectors.errors import ConnectorError
from core.scoping import editor_required, get_owned_or_404
from models.connection import Connection
from models.connections import create_connection, store_tokens
from models.oauth_flow import OAuthSetupError, begin, finish

SESSION_KEY = "oauth_pending"
# A few flows may be open at once (two tabs); older ones are forgotten.
MAX_PENDING = 5


def start_oauth(cls: type[Connector], config: Mapping[str, Any], *, name: str,
                connection_id: int | None = None):
    """Remember the flow in the session and send the browser to the provider's consent page."""
    redirect_uri = url_for("connections.oauth_callback", _external=True)
    try:
        url, state, pending = begin(cls, config, redirect_uri, name=name,
                                    connection_id=connection_id, user_id=current_user.id)
    except OAuthSetupError as error:
        flash(str(error), "warning")
        return redirect(retry_url(cls.key, connection_id))
    flows = dict(session.get(SESSION_KEY) or {})
    flows[state] = pending
    session[SESSION_KEY] = dict(list(flows.items())[-MAX_PENDING:])
    return redirect(url)


@bp.post("/<int:connection_id>/reconnect")
@editor_required
def reconnect(connection_id: int):
    """Authorise an OAuth connection again (after its access was revoked or expired)."""
    connection = get_owned_or_404(Connection, connection_id)
    cls = connector_or_404(connection.service)
    if cls.auth_kind != AuthKind.OAUTH2:
        return redirect(url_for("connections.edit", connection_id=connection.id))
    return start_oauth(cls, connection.config or {}, name=connection.name,
                       connection_id=connection.id)


@bp.get("/oauth/callback")
def oauth_callback():
    """Finish an OAuth flow: check the state, trade the code for tokens, save the connection."""
    pending = take_pending(request.args.get("state", ""))
    cls = connector_or_404(pending["service"])
    back = retry_url(cls.key, pending.get("connection_id"))
    if request.args.get("error"):
        flash(_("%(service)s did not grant access: %(error)s", service=cls.name,
                error=request.args.get("error_description") or request.args["error"]), "danger")
        return redirect(back)
    code = request.args.get("code", "")
    if not code:
        flash(_("%(service)s sent no authorization code; try again.", service=cls.name),
              "danger")
        return redirect(back)
    try:
        tokens = finish(cls, pending, code, pending["redirect_uri"])
    except OAuthSetupError as error:
        flash(str(error), "warning")
        return redirect(back)
    except ConnectorError as error:
        flash(error.message, "danger")
        return redirect(back)
    connection = save_tokens(cls, pending, tokens.to_dict())
    return open_connection(connection, cls)


def take_pending(state: str) -> dict[str, Any]:
    """Pop the flow this state belongs to, or answer 400 when it is not one of ours."""
    flows = dict(session.get(SESSION_KEY) or {})
    pending = flows.pop(state, None) if state else None
    session[SESSION_KEY] = flows
    if pending is None or pending.get("user_id") != current_user.id:
        abort(400, description=_("This authorization was not started here or has expired: "
                                 "its state does not match. Start connecting again."))
    return pending


def save_tokens(cls: type[Connector], pending: Mapping[str, Any], tokens: dict) -> Connection:
    """Store the tokens on the reconnected connection, or create a new connection."""
    if pending.get("connection_id"):
        connection = get_owned_or_404(Connection, pending["connection_id"])
        store_tokens(connection, tokens, current_user)
        flash(_("Connection %(name)s reconnected.", name=connection.name), "success")
        return connection
    connection = create_connection(current_user.account_id, cls, pending["name"],
                                   pending.get("config") or {}, tokens, current_user)
    flash(_("Connection %(name)s added.", name=connection.name), "success")
    return connection


def retry_url(service: str, connection_id: int | None) -> str:
    """Return where to go when a flow cannot start or finish."""
    if connection_id:
        return url_for("connections.show", connection_id=connection_id)
    return url_for("connections.create", service=service)
