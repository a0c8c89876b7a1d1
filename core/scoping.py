"""Queries scoped to the current user's account, and role guards for views."""

from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user
from sqlalchemy import Select, select

from models.base import db


def owned(model) -> Select:
    """Select rows of a model that belong to the current account."""
    return select(model).where(model.account_id == current_user.account_id)


def get_owned_or_404(model, object_id: int):
    """Return the current account's object, or 404 (never another account's)."""
    obj = db.session.scalar(owned(model).where(model.id == object_id))
    if obj is None:
        abort(404)
    return obj


def editor_required(view):
    """Refuse viewers: only roles that may change data pass."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.role_enum.can_edit:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def admin_required(view):
    """Refuse everyone but owners and admins."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.role_enum.can_manage_users:
            abort(403)
        return view(*args, **kwargs)

    return wrapped
