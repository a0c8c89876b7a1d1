"""Instance-wide settings an admin changes in the browser (OAuth clients, network)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String, select
from sqlalchemy.orm import Mapped, mapped_column

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
