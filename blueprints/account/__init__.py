"""The user's own profile: password and language."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user

from blueprints.account.forms import PasswordForm, PreferencesForm
from models.base import db

bp = Blueprint("account", __name__, url_prefix="/account")


def render_profile(password_form=None, preferences_form=None, status=200):
    """Render the profile page with both forms."""
    preferences_form = preferences_form or PreferencesForm(language=current_user.language or "")
    return render_template(
        "account/profile.html",
        password_form=password_form or PasswordForm(),
        preferences_form=preferences_form,
    ), status


@bp.get("/")
def profile():
    """Show the user's profile."""
    return render_profile()


@bp.post("/password")
def password():
    """Change the user's own password and keep this session logged in."""
    form = PasswordForm()
    if not form.validate_on_submit():
        return render_profile(password_form=form, status=422)
    if not current_user.check_password(form.current.data):
        form.current.errors.append(_("The current password is wrong."))
        return render_profile(password_form=form, status=422)
    current_user.set_password(form.password.data)
    db.session.commit()
    login_user(current_user._get_current_object())  # re-issue the session with the new version
    flash(_("Your password has been changed; other sessions were logged out."), "success")
    return redirect(url_for("account.profile"))


@bp.post("/preferences")
def preferences():
    """Save the user's interface language."""
    form = PreferencesForm()
    if not form.validate_on_submit():
        return render_profile(preferences_form=form, status=422)
    current_user.language = form.language.data or None
    db.session.commit()
    flash(_("Preferences saved."), "success")
    return redirect(url_for("account.profile"))
