"""The shared declarative base, column types and mixins."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON, DateTime, ForeignKey, MetaData, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, registry

# Stable constraint names keep Alembic migrations portable across SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Store naive UTC, hand back aware UTC, on every database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base with naming conventions and shared type mapping."""

    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime(), dict: JSONType, list: JSONType},
    )


db = SQLAlchemy(model_class=Base)


class TimestampMixin:
    """Add created_at to a model."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccountOwned:
    """Mark a model as belonging to one account; every query must scope on it."""

    @declared_attr
    def account_id(cls) -> Mapped[int]:  # noqa: N805 - declared_attr takes the class
        return mapped_column(
            ForeignKey("account.id", ondelete="CASCADE"), index=True, nullable=False
        )
