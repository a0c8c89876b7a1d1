"""Templates: the catalog of ready bundles and the account's installed ones."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import select

from core.scoping import owned
from models.base import db
from models.template import CatalogTemplate, InstalledTemplate

bp = Blueprint("catalog", __name__, url_prefix="/templates")


@bp.get("/")
def index():
    """Show the catalog grouped by app, and the account's installed templates."""
    catalog = db.session.scalars(
        select(CatalogTemplate).order_by(CatalogTemplate.app, CatalogTemplate.title)
    ).all()
    installed = db.session.scalars(
        owned(InstalledTemplate).order_by(InstalledTemplate.created_at.desc())
    ).all()
    return render_template("catalog/index.html", catalog=catalog, installed=installed)
