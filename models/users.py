"""Account and user operations shared by the web pages and the CLI."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from models.account import Account, Role, User
from models.base import db


class UserError(ValueError):
    """A user operation that cannot be done; the message is shown as is."""


def create_account_with_owner(
    account_name: str, email: str, password: str, *, timezone: str = "UTC",
    language: str = "en",
) -> User:
    """Create a workspace and its owner in one transaction."""
    account = Account(name=account_name.strip(), timezone=timezone, language=language)
    db.session.add(account)
    return add_user(account, email, password, Role.OWNER)


def add_user(account: Account, email: str, password: str, role: Role) -> User:
    """Add a user to an account; refuse an email that is already taken."""
    email = User.normalize_email(email)
    if User.by_email(email) is not None:
        db.session.rollback()
        raise UserError(_l("A user with the email %(email)s already exists.", email=email))
    user = User(account=account, email=email, role=Role(role).value)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def count_active_owners(account_id: int) -> int:
    """Count the active owners of an account."""
    stmt = select(func.count(User.id)).where(
        User.account_id == account_id, User.role == Role.OWNER.value, User.active.is_(True)
    )
    return db.session.scalar(stmt) or 0


def check_may_manage(actor: User, target: User, new_role: Role | None = None) -> None:
    """Refuse changes that would lock an account out or exceed the actor's rights."""
    if not actor.role_enum.can_manage_users:
        raise UserError(_l("Only owners and admins manage users."))
    touches_owner = target.role_enum is Role.OWNER or new_role is Role.OWNER
    if touches_owner and actor.role_enum is not Role.OWNER:
        raise UserError(_l("Only an owner can grant or change the owner role."))
    if target.id == actor.id:
        raise UserError(_l("You cannot change your own role or deactivate yourself."))


def change_role(actor: User, target: User, new_role: Role) -> None:
    """Give a user another role."""
    check_may_manage(actor, target, new_role)
    target.role = new_role.value
    db.session.commit()


def set_active(actor: User, target: User, active: bool) -> None:
    """Deactivate or reactivate a user; a deactivated user's sessions end."""
    check_may_manage(actor, target)
    target.active = active
    target.session_version += 1
    db.session.commit()
