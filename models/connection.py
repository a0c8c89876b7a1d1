"""Connections: authorised accounts in third-party services."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.crypto import seal, unseal
from models.base import AccountOwned, TimestampMixin, db


class ConnectionStatus(StrEnum):
    """Whether bundles may use a connection."""

    ACTIVE = "active"
    INACTIVE = "inactive"  # credentials rejected or refresh failed: reconnect


class Connection(AccountOwned, TimestampMixin, db.Model):
    """One authorised account of one service; many per service are allowed."""

    __table_args__ = (Index("ix_connection_account_service", "account_id", "service"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(String(64))  # connector key
    name: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), default=ConnectionStatus.ACTIVE.value)
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Non-secret settings (API address, options), shown in forms.
    config: Mapped[dict] = mapped_column(default=dict)
    # Secrets (API keys, OAuth tokens) sealed by core.crypto; never rendered back.
    secrets_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Lists, fields, pipelines read by "Refresh", offered in bundle settings.
    service_metadata: Mapped[dict] = mapped_column(default=dict)
    # Incoming webhook connections: the unguessable URL token and the last sample.
    webhook_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    sample: Mapped[dict | None]
    last_tested_at: Mapped[datetime | None]
    last_test_ok: Mapped[bool | None]
    last_test_message: Mapped[str | None] = mapped_column(Text)
    last_refreshed_at: Mapped[datetime | None]

    def read_secrets(self) -> dict:
        """Return the decrypted secrets (API keys, tokens)."""
        return unseal(self.secrets_sealed)

    def write_secrets(self, values: dict) -> None:
        """Encrypt and store the secrets."""
        self.secrets_sealed = seal(values)

    @property
    def is_active(self) -> bool:
        """Tell whether bundles may use this connection."""
        return self.status == ConnectionStatus.ACTIVE.value
