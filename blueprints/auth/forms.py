"""Forms for first-start setup and login."""

from __future__ import annotations

import zoneinfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, Length, ValidationError

LANGUAGES = (("en", "English"), ("ru", "Русский"))


def strip_text(value):
    """Trim surrounding whitespace that copy-paste brings along."""
    return value.strip() if isinstance(value, str) else value


def select_choices(pairs) -> list[SelectChoice]:
    """Turn (value, label) pairs into WTForms select choices."""
    return [SelectChoice(value, label) for value, label in pairs]


def language_choices() -> list[SelectChoice]:
    """List the interface languages for a select."""
    return select_choices(LANGUAGES)


def timezone_choices() -> list[SelectChoice]:
    """List IANA time zones for a select."""
    return select_choices((name, name) for name in sorted(zoneinfo.available_timezones()))


def strong_password(_form, field) -> None:
    """Refuse passwords that are short or all one kind of character."""
    value = field.data or ""
    minimum = current_app.config["MIN_PASSWORD_LENGTH"]
    if len(value) < minimum:
        raise ValidationError(_l("Use at least %(n)s characters.", n=minimum))
    if value.isdigit() or value.isalpha() or len(set(value)) < 4:
        raise ValidationError(_l("Mix letters with digits or symbols."))


class PasswordPairMixin:
    """A new password typed twice."""

    password = PasswordField(_l("Password"), validators=[DataRequired(), strong_password])
    confirm = PasswordField(
        _l("Repeat password"),
        validators=[DataRequired(), EqualTo("password", message=_l("Passwords differ."))],
    )


class SetupForm(PasswordPairMixin, FlaskForm):
    """Create the first account and its owner."""

    account_name = StringField(_l("Workspace name"), filters=[strip_text],
                               validators=[DataRequired(), Length(max=120)])
    email = EmailField(_l("Your email"), filters=[strip_text],
                       validators=[DataRequired(), Email(), Length(max=254)])
    timezone = SelectField(_l("Time zone"), choices=timezone_choices, default="UTC")
    language = SelectField(_l("Language"), choices=language_choices, default="en")


class LoginForm(FlaskForm):
    """Email and password."""

    email = EmailField(_l("Email"), filters=[strip_text], validators=[DataRequired(), Email()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    remember = BooleanField(_l("Remember me"))
