"""Owners and admins add users, change roles and deactivate users."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from blueprints.users.forms import NewUserForm, RoleForm
from core.scoping import admin_required, get_owned_or_404, owned
from models.account import Role, User
from models.base import db
from models.users import UserError, add_user, change_role, set_active

bp = Blueprint("users", __name__, url_prefix="/users")


def account_users() -> list[User]:
    """Return the current account's users, by email."""
    return list(db.session.scalars(owned(User).order_by(User.email)))


@bp.get("/")
@admin_required
def index():
    """List the account's users."""
    return render_template("users/index.html", users=account_users(), form=NewUserForm())


@bp.post("/")
@admin_required
def create():
    """Add a user to the account."""
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            if form.role.data == Role.OWNER and current_user.role_enum is not Role.OWNER:
                raise UserError(_("Only an owner can grant or change the owner role."))
            add_user(current_user.account, form.email.data, form.password.data,
                     Role(form.role.data))
        except UserError as error:
            form.email.errors.append(str(error))
        else:
            flash(_("User %(email)s added.", email=form.email.data), "success")
            return redirect(url_for("users.index"))
    return render_template("users/index.html", users=account_users(), form=form), 422


@bp.post("/<int:user_id>/role")
@admin_required
def update_role(user_id: int):
    """Change a user's role."""
    user = get_owned_or_404(User, user_id)
    form = RoleForm()
    if form.validate_on_submit():
        apply_change(lambda: change_role(current_user, user, Role(form.role.data)),
                     _("Role of %(email)s changed.", email=user.email))
    else:
        flash(_("Choose a valid role."), "danger")
    return redirect(url_for("users.index"))


@bp.post("/<int:user_id>/active")
@admin_required
def toggle_active(user_id: int):
    """Deactivate or reactivate a user."""
    user = get_owned_or_404(User, user_id)
    make_active = not user.active
    message = _("%(email)s reactivated.", email=user.email) if make_active else _(
        "%(email)s deactivated.", email=user.email)
    apply_change(lambda: set_active(current_user, user, make_active), message)
    return redirect(url_for("users.index"))


def apply_change(change, success_message: str) -> None:
    """Run a user change and flash its outcome."""
    try:
        change()
    except UserError as error:
        db.session.rollback()
        flash(str(error), "danger")
    else:
        flash(success_message, "success")
