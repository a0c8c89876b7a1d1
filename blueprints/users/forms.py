"""Forms for managing an account's users."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length

from blueprints.auth.forms import PasswordPairMixin, select_choices, strip_text
from models.account import ROLE_LABELS, Role


def role_choices() -> list[SelectChoice]:
    """List roles for a select."""
    return select_choices((role.value, label) for role, label in ROLE_LABELS.items())


class NewUserForm(PasswordPairMixin, FlaskForm):
    """Add a user with an initial password."""

    email = EmailField(_l("Email"), filters=[strip_text],
                       validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField(_l("Role"), choices=role_choices, default=Role.EDITOR.value)


class RoleForm(FlaskForm):
    """Change a user's role."""

    role = SelectField(_l("Role"), choices=role_choices)
