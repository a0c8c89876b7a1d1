"""Incoming webhooks: store every request before answering, then hand it to a worker.

Requests are served by blueprints.hooks.gateway ahead of Flask; the blueprint only gives
templates url_for('hooks.receive', token=...).
"""

from __future__ import annotations

from flask import Blueprint, Flask

from blueprints.hooks.gateway import HookGateway

bp = Blueprint("hooks", __name__, url_prefix="/hooks")
bp.add_url_rule("/<token>", endpoint="receive", build_only=True)


def install_gateway(app: Flask) -> None:
    """Put the webhook gateway in front of the app's WSGI callable."""
    app.wsgi_app = HookGateway(app, app.wsgi_app)
