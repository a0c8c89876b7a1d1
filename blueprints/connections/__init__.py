"""Connections: the accounts in other services that bundles use."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from core.scoping import owned
from models.base import db
from models.connection import Connection

bp = Blueprint("connections", __name__, url_prefix="/connections")


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
    template = "connections/_rows.html" if request.headers.get("HX-Request") else (
        "connections/index.html")
    return render_template(template, connections=connections, query=query)
