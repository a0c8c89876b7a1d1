"""My bundles: the list of automations, with search and status filter."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from core.scoping import owned
from models.base import db
from models.bundle import Bundle, BundleGroup, BundleStatus

bp = Blueprint("bundles", __name__)


def filtered_bundles(status: str, query: str, group_id: int | None) -> list[Bundle]:
    """Return the account's bundles matching the list filters."""
    stmt = owned(Bundle).order_by(Bundle.updated_at.desc())
    if status == "migration":
        stmt = stmt.where(Bundle.is_migration.is_(True))
    elif status in {s.value for s in BundleStatus}:
        stmt = stmt.where(Bundle.status == status)
    else:
        stmt = stmt.where(Bundle.status != BundleStatus.DELETED.value)
    if query:
        stmt = stmt.where(Bundle.name.icontains(query, autoescape=True))
    if group_id:
        stmt = stmt.where(Bundle.group_id == group_id)
    return list(db.session.scalars(stmt.limit(500)))


@bp.get("/")
def index():
    """Show the account's bundles matching the filters."""
    status = request.args.get("status", "")
    query = request.args.get("q", "").strip()
    group_id = request.args.get("group", type=int)
    bundles = filtered_bundles(status, query, group_id)
    template = "bundles/_rows.html" if request.headers.get("HX-Request") else "bundles/index.html"
    groups = db.session.scalars(owned(BundleGroup).order_by(BundleGroup.name)).all()
    return render_template(template, bundles=bundles, groups=groups, status=status,
                           query=query, group_id=group_id, statuses=list(BundleStatus))
