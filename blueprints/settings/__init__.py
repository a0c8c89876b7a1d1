"""Instance-wide settings for owners and admins: OAuth clients and the network guard."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from blueprints.settings.forms import NetworkForm, OAuthClientForm
from connectors.base import AuthKind, Connector
from connectors.registry import all_connectors
from core.scoping import admin_required
from models.base import db
from models.setting import (
    get_setting,
    oauth_client_credentials,
    oauth_setting_key,
    save_oauth_client,
    set_setting,
)

bp = Blueprint("settings", __name__, url_prefix="/settings")


def oauth_services() -> list[type[Connector]]:
    """Return the registered connectors that authorise with OAuth."""
    return [cls for cls in all_connectors() if cls.auth_kind == AuthKind.OAUTH2]


def oauth_forms() -> list[tuple[type[Connector], OAuthClientForm, bool]]:
    """Return each OAuth service with its filled form and whether a client is usable."""
    rows = []
    for cls in oauth_services():
        stored = get_setting(oauth_setting_key(cls.key)) or {}
        form = OAuthClientForm(prefix=cls.key, data={"client_id": stored.get("client_id", "")})
        rows.append((cls, form, oauth_client_credentials(cls.key) is not None))
    return rows


@bp.get("/")
@admin_required
def index():
    """Show the OAuth clients and the network setting."""
    network = NetworkForm(data={"allow_private_network": bool(
        get_setting("allow_private_network", False))})
    return render_template("settings/index.html", oauth=oauth_forms(), network=network,
                           redirect_uri=url_for("connections.oauth_callback", _external=True))


@bp.post("/oauth/<service>")
@admin_required
def save_oauth(service: str):
    """Store a service's OAuth client id and secret (a blank secret keeps the stored one)."""
    cls = next((item for item in oauth_services() if item.key == service), None)
    if cls is None:
        abort(404)
    form = OAuthClientForm(prefix=cls.key)
    if form.validate_on_submit():
        save_oauth_client(cls.key, form.client_id.data or "", form.client_secret.data or "")
        flash(_("OAuth client of %(service)s saved.", service=cls.name), "success")
    else:
        flash(_("Check the OAuth client fields."), "danger")
    return redirect(url_for("settings.index") + f"#oauth-{cls.key}")


@bp.post("/network")
@admin_required
def save_network():
    """Allow or forbid outgoing requests to private and local addresses."""
    form = NetworkForm()
    if form.validate_on_submit():
        set_setting("allow_private_network", bool(form.allow_private_network.data))
        db.session.commit()
        flash(_("Network setting saved."), "success")
    return redirect(url_for("settings.index") + "#network")
