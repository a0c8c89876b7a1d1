"""Accounts (workspaces) and their users."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from models.base import TimestampMixin, db


class Role(StrEnum):
    """What a user may do inside an account, from most to least."""

    OWNER = "owner"
    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"

    @property
    def can_edit(self) -> bool:
        """Tell whether this role may change bundles, connections and data."""
        return self is not Role.VIEWER

    @property
    def can_manage_users(self) -> bool:
        """Tell whether this role may add users and change roles."""
        return self in (Role.OWNER, Role.ADMIN)


ROLE_LABELS = {
    Role.OWNER: _l("Owner"),
    Role.ADMIN: _l("Admin"),
    Role.EDITOR: _l("Editor"),
    Role.VIEWER: _l("Viewer"),
}


class Account(TimestampMixin, db.Model):
    """A workspace: everything a team owns hangs off one account."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    language: Mapped[str] = mapped_column(String(8), default="en")

    users: Mapped[list[User]] = relationship(back_populates="account")


class User(UserMixin, TimestampMixin, db.Model):
    """A person who logs in; belongs to exactly one account."""

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("account.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default=Role.VIEWER.value)
    active: Mapped[bool] = mapped_column(default=True)
    language: Mapped[str | None] = mapped_column(String(8))
    # Bumped on password change so old sessions and remember-me cookies die.
    session_version: Mapped[int] = mapped_column(default=1)
    last_login_at: Mapped[datetime | None]

    account: Mapped[Account] = relationship(back_populates="users")

    @property
    def role_enum(self) -> Role:
        """Return the role as an enum member."""
        return Role(self.role)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        """Identify the session by user and password generation."""
        return f"{self.id}:{self.session_version}"

    def set_password(self, password: str) -> None:
        """Hash and store a new password, ending other sessions."""
        self.password_hash = generate_password_hash(password)
        self.session_version = (self.session_version or 0) + 1

    def check_password(self, password: str) -> bool:
        """Tell whether the password matches."""
        return check_password_hash(self.password_hash, password)

    @staticmethod
    def normalize_email(email: str) -> str:
        """Lower-case and trim an email so lookups are exact."""
        return email.strip().lower()

    @classmethod
    def by_email(cls, email: str) -> User | None:
        """Find a user by email, ignoring case."""
        stmt = select(cls).where(func.lower(cls.email) == cls.normalize_email(email))
        return db.session.scalar(stmt)


def any_user_exists() -> bool:
    """Tell whether the first-start setup has been done."""
    return db.session.scalar(select(User.id).limit(1)) is not None
