"""Instance-wide settings an admin changes in the browser (OAuth clients, network)."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import LargeBinary, String, select
from sqlalchemy.orm import Mapped, mapped_column

from core.crypto import seal, unseal
from models.base import db, utcnow


class SystemSetting(db.Model):
    """One named setting; secret ones are sealed like connection secrets."""

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict | None]
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def get_setting(key: str, default=None):
    """Return a setting's plain value, or the default."""
    row = db.session.scalar(select(SystemSetting).where(SystemSetting.key == key))
    return default if row is None or row.value is None else row.value.get("v", default)


def setting_row(key: str, *, create: bool = False) -> SystemSetting | None:
    """Return the row of a setting, adding an empty one to the session when asked."""
    row = db.session.get(SystemSetting, key)
    if row is None and create:
        row = SystemSetting(key=key)
        db.session.add(row)
    return row


def set_setting(key: str, value) -> None:
    """Store a setting's plain value (the caller commits)."""
    setting_row(key, create=True).value = {"v": value}


def get_sealed_setting(key: str) -> dict:
    """Return a setting's decrypted secrets, or an empty dict."""
    row = setting_row(key)
    return unseal(row.sealed) if row is not None else {}


def set_sealed_setting(key: str, values: dict) -> None:
    """Encrypt and store a setting's secrets (the caller commits)."""
    setting_row(key, create=True).sealed = seal(values)


# OAuth addresses a connection's config may override; the instance's client secret is sent
# to the token address, so only an instance that allows it lets users point them elsewhere.
OAUTH_ENDPOINT_FIELDS = ("authorize_url", "token_url")


def oauth_endpoints_overridable() -> bool:
    """Tell whether connections may override OAuth addresses (SVYAZKA_OAUTH_ENDPOINT_OVERRIDES)."""
    return bool(current_app.config.get("OAUTH_ENDPOINT_OVERRIDES"))


def oauth_setting_key(service: str) -> str:
    """Name the setting that holds a service's OAuth client."""
    return f"oauth_client.{service}"


def oauth_client_credentials(service: str) -> tuple[str, str] | None:
    """Return the OAuth client id and secret for a service: admin settings, else env."""
    key = oauth_setting_key(service)
    client_id = (get_setting(key) or {}).get("client_id", "")
    client_secret = get_sealed_setting(key).get("client_secret", "")
    if client_id and client_secret:
        return client_id, client_secret
    # SVYAZKA_OAUTH_<SERVICE>_CLIENT_ID arrives in app.config without the prefix.
    prefix = f"OAUTH_{service.upper()}_"
    client_id = str(current_app.config.get(prefix + "CLIENT_ID") or "")
    client_secret = str(current_app.config.get(prefix + "CLIENT_SECRET") or "")
    return (client_id, client_secret) if client_id and client_secret else None


def save_oauth_client(service: str, client_id: str, client_secret: str) -> None:
    """Store a service's OAuth client; a blank secret keeps the stored one."""
    key = oauth_setting_key(service)
    set_setting(key, {"client_id": client_id.strip()})
    if client_secret.strip():
        set_sealed_setting(key, {"client_secret": client_secret.strip()})
    elif not client_id.strip():
        setting_row(key).sealed = None  # clearing the id forgets the whole client
    db.session.commit()
