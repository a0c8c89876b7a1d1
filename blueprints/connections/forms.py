"""Connection forms, built from the fields a connector declares."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.validators import URL, DataRequired, Length, Optional, ValidationError

from blueprints.auth.forms import select_choices, strip_text
from connectors.base import AuthKind, Connector
from connectors.fields import Field as ConnectorField
from models.connection import Connection
from models.setting import OAUTH_ENDPOINT_FIELDS, oauth_endpoints_overridable

AUTH_PREFIX = "auth_"
CONFIG_PREFIX = "config_"
# Settings most people never change; the form tucks them under "Advanced".
ADVANCED_FIELDS = frozenset({"base_url", "authorize_url", "token_url"})
# Labels connectors commonly declare: listed so that they are extracted for translation.
CONNECTOR_WORDS = (_l("API key"), _l("API address"), _l("Bot token"), _l("Username"),
                   _l("Password"), _l("Change only for a sandbox or a test server."),
                   _l("OAuth tokens"), _l("Access token"), _l("Refresh token"),
                   _l("Token address"), _l("Consent page address"))


class ConnectionNameForm(FlaskForm):
    """Name a connection."""

    name = StringField(_l("Name"), filters=[strip_text],
                       validators=[DataRequired(), Length(max=120)])


class ConnectionForm(ConnectionNameForm):
    """A connection's name plus the connector's declared settings (added per connector)."""

    connector_fields: tuple[tuple[str, ConnectorField], ...] = ()

    def field_groups(self) -> tuple[list[Field], list[Field]]:
        """Return the connector's form fields split into main and advanced ones."""
        main, advanced = [], []
        for form_name, item in self.connector_fields:
            (advanced if item.name in ADVANCED_FIELDS else main).append(self[form_name])
        return main, advanced

    def values(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return the entered (config, secrets) as plain values."""
        config: dict[str, Any] = {}
        auth: dict[str, Any] = {}
        for form_name, item in self.connector_fields:
            target = auth if form_name.startswith(AUTH_PREFIX) else config
            target[item.name] = plain_value(item, self[form_name].data)
        return config, auth


def connection_form(cls: type[Connector], connection: Connection | None = None,
                    name: str = "") -> ConnectionForm:
    """Build and fill the form for a new or an existing connection of a service."""
    declared = [(AUTH_PREFIX + item.name, item) for item in cls.auth_fields
                if cls.auth_kind != AuthKind.OAUTH2]  # OAuth tokens come from the flow
    declared += [(CONFIG_PREFIX + item.name, item) for item in cls.config_fields
                 if not hidden_endpoint(cls, item.name)]
    editing = connection is not None
    attributes: dict[str, Any] = {name_: form_field(item, editing=editing)
                                  for name_, item in declared}
    attributes["connector_fields"] = tuple(declared)
    form_class = type(f"{cls.__name__}ConnectionForm", (ConnectionForm,), attributes)
    return form_class(data=initial_data(declared, connection, name))


def hidden_endpoint(cls: type[Connector], name: str) -> bool:
    """Tell whether an OAuth address field stays off the form (the instance forbids overrides)."""
    return (cls.auth_kind == AuthKind.OAUTH2 and name in OAUTH_ENDPOINT_FIELDS
            and not oauth_endpoints_overridable())


def initial_data(declared, connection: Connection | None, name: str) -> dict[str, Any]:
    """Return the values a form starts with: stored ones, else declared defaults."""
    config = dict(connection.config or {}) if connection else {}
    stored_auth = connection.read_secrets() if connection else {}
    data: dict[str, Any] = {"name": connection.name if connection else name}
    for form_name, item in declared:
        if item.type == "secret":
            continue  # secrets are never sent back to the browser
        source = stored_auth if form_name.startswith(AUTH_PREFIX) else config
        value = source.get(item.name, item.default)
        data[form_name] = shown_value(item, value)
    return data


def form_field(item: ConnectorField, *, editing: bool) -> Field:
    """Return the WTForms field for one declared connector field."""
    label = _l(item.label)
    needed = item.required and not (editing and item.type == "secret")
    validators = [DataRequired()] if needed and item.type != "boolean" else [Optional()]
    render_kw = {"placeholder": item.placeholder} if item.placeholder else {}
    description = _l(item.help) if item.help else ""
    common = {"description": description, "render_kw": render_kw}
    if item.type == "secret":
        render_kw["autocomplete"] = "new-password"
        if editing:
            render_kw["placeholder"] = _("Leave blank to keep the stored value")
        return PasswordField(label, validators=validators, **common)
    if item.type == "boolean":
        return BooleanField(label, **common)
    if item.type == "select":
        return SelectField(label, choices=select_choices(item.options), validators=validators,
                           **common)
    if item.type == "url":
        return URLField(label, filters=[strip_text], **common,
                        validators=[*validators, URL(require_tld=False)])
    if item.type in ("text", "json", "keyvalue"):
        return TextAreaField(label, validators=[*validators, text_checker(item.type)], **common)
    if item.type == "number":
        return StringField(label, filters=[strip_text], **common,
                           validators=[*validators, text_checker("number")])
    return StringField(label, filters=[strip_text], validators=validators, **common)


def text_checker(kind: str):
    """Return a validator that refuses text which cannot become the field's value."""

    def check(form, field) -> None:
        if not field.data:
            return
        try:
            parse_text(kind, field.data)
        except ValueError as error:
            raise ValidationError(str(error)) from None

    return check


def parse_text(kind: str, text: str) -> Any:
    """Turn form text into a number, JSON value or name/value dict; raise ValueError."""
    if kind == "number":
        try:
            number = float(text.replace(",", "."))
        except ValueError:
            raise ValueError(_("Enter a number.")) from None
        return int(number) if number.is_integer() else number
    if kind == "json":
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError(_("Enter valid JSON.")) from None
    if kind == "keyvalue":
        pairs = {}
        for line in filter(None, (line.strip() for line in text.splitlines())):
            name, separator, value = line.partition(":")
            if not separator or not name.strip():
                raise ValueError(_("Write one “name: value” pair per line."))
            pairs[name.strip()] = value.strip()
        return pairs
    return text


def plain_value(item: ConnectorField, data: Any) -> Any:
    """Return the stored form of a field's submitted data."""
    if item.type in ("number", "json", "keyvalue") and isinstance(data, str):
        return parse_text(item.type, data) if data.strip() else None
    if item.type == "boolean":
        return bool(data)
    return data if data is not None else ""


def shown_value(item: ConnectorField, value: Any) -> Any:
    """Return a stored value as the text a form field shows."""
    if value is None:
        return None
    if item.type == "json":
        return json.dumps(value, ensure_ascii=False, indent=2)
    if item.type == "keyvalue" and isinstance(value, Mapping):
        return "\n".join(f"{name}: {text}" for name, text in value.items())
    if item.type == "number":
        return str(value)
    return value
