"""Forms for a user's own profile."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField
from wtforms.validators import DataRequired

from blueprints.auth.forms import LANGUAGES, PasswordPairMixin, select_choices


class PasswordForm(PasswordPairMixin, FlaskForm):
    """Change one's own password, proving the current one."""

    current = PasswordField(_l("Current password"), validators=[DataRequired()])


class PreferencesForm(FlaskForm):
    """Pick the interface language."""

    language = SelectField(_l("Language"), choices=lambda: select_choices(
        (("", _l("As the browser says")), *LANGUAGES)))
