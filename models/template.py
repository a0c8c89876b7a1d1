"""The templates catalog and the templates an account has installed."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import AccountOwned, TimestampMixin, db


class CatalogTemplate(TimestampMixin, db.Model):
    """A ready-made set of scenarios for one app, shared by every account."""

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    app: Mapped[str] = mapped_column(String(100), index=True)  # directory, e.g. amoCRM
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # [{"key": ..., "title": ..., "definition": {...}}]; connectors each one needs
    scenarios: Mapped[list] = mapped_column(default=list)
    services: Mapped[list] = mapped_column(default=list)
    version: Mapped[int] = mapped_column(default=1)


class InstalledTemplate(AccountOwned, TimestampMixin, db.Model):
    """A catalog template installed into an account ("my templates")."""

    id: Mapped[int] = mapped_column(primary_key=True)
    catalog_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("catalog_template.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))

    catalog_template: Mapped[CatalogTemplate | None] = relationship()
