"""Connections: the accounts in other services that bundles use."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("connections", __name__, url_prefix="/connections")

# The views register themselves on bp; imported last because they import bp.
from blueprints.connections import actions, oauth, pages  # noqa: E402, F401
