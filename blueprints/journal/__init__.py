"""The journal: runs and system events, newest first."""

from __future__ import annotations

from flask import Blueprint, render_template

from core.scoping import owned
from models.base import db
from models.journal import JournalEvent
from models.run import Run

bp = Blueprint("journal", __name__, url_prefix="/journal")

PAGE_SIZE = 100


@bp.get("/")
def index():
    """Show the latest runs and system events."""
    runs = db.session.scalars(owned(Run).order_by(Run.created_at.desc()).limit(PAGE_SIZE)).all()
    events = db.session.scalars(
        owned(JournalEvent).order_by(JournalEvent.created_at.desc()).limit(PAGE_SIZE)
    ).all()
    return render_template("journal/index.html", runs=runs, events=events)
