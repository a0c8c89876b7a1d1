"""Forms for the instance-wide settings."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import Length, Optional

from blueprints.auth.forms import strip_text


class OAuthClientForm(FlaskForm):
    """The OAuth application an admin registered with a provider."""

    client_id = StringField(_l("Client ID"), filters=[strip_text],
                            validators=[Optional(), Length(max=300)])
    client_secret = PasswordField(
        _l("Client secret"), validators=[Optional(), Length(max=300)],
        render_kw={"autocomplete": "new-password"},
        description=_l("Leave blank to keep the stored secret."))


class NetworkForm(FlaskForm):
    """Whether outgoing requests may reach private and local addresses."""

    allow_private_network = BooleanField(
        _l("Allow outgoing requests to private and local addresses"))
