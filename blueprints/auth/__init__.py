"""First-start setup, login and logout."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from blueprints.auth.forms import LoginForm, SetupForm
from core.web import public, safe_next_url
from models.account import User, any_user_exists
from models.base import db, utcnow
from models.users import create_account_with_owner

bp = Blueprint("auth", __name__)


@bp.route("/setup", methods=["GET", "POST"])
@public
def setup():
    """Create the first workspace and its owner on a fresh install."""
    if any_user_exists():
        return redirect(url_for("auth.login"))
    form = SetupForm()
    if form.validate_on_submit():
        user = create_account_with_owner(
            form.account_name.data, form.email.data, form.password.data,
            timezone=form.timezone.data, language=form.language.data,
        )
        login_user(user)
        flash(_("Welcome! Your workspace is ready."), "success")
        return redirect(url_for("bundles.index"))
    return render_template("auth/setup.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Log a user in by email and password."""
    if not any_user_exists():
        return redirect(url_for("auth.setup"))
    if current_user.is_authenticated:
        return redirect(url_for("bundles.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = User.by_email(form.email.data)
        if user is None or not user.check_password(form.password.data):
            form.password.errors.append(_("Wrong email or password."))
        elif not user.active:
            form.email.errors.append(_("This user has been deactivated."))
        else:
            user.last_login_at = utcnow()
            db.session.commit()
            login_user(user, remember=form.remember.data)
            return redirect(safe_next_url(request.args.get("next")) or url_for("bundles.index"))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    """Log the current user out."""
    logout_user()
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))
