"""Saving bundle definitions: every change becomes a new numbered, immutable version."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import func, select

from models.account import Account, User
from models.base import db
from models.bundle import Bundle, BundleStatus, BundleVersion, TriggerKind
from models.connection import Connection
from workers.engine.definition import validate_definition


def connection_lookup(account_id: int) -> Callable[[int], str | None]:
    """Return a function giving the service of an account's connection, or None."""
    # One query for the whole definition; a bundle names only a handful of connections.
    query = select(Connection.id, Connection.service).where(Connection.account_id == account_id)
    services = {connection_id: service for connection_id, service in db.session.execute(query)}
    return services.get


def validate_for_account(account_id: int, definition: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a definition against the connections of one account; return it normalised."""
    return validate_definition(definition, connection_service=connection_lookup(account_id))


def create_bundle(
    account: Account,
    name: str,
    definition: Mapping[str, Any],
    user: User | None = None,
    *,
    schedule: Mapping[str, Any] | None = None,
) -> Bundle:
    """Create a draft bundle whose version 1 holds the definition; commit."""
    normalised = validate_for_account(account.id, definition)
    bundle = Bundle(
        account_id=account.id,
        name=name,
        status=BundleStatus.DRAFT.value,
        schedule=dict(schedule or {}),
    )
    db.session.add(bundle)
    db.session.flush()  # the version query below needs the bundle's id
    _add_version(bundle, normalised, user)
    db.session.commit()
    return bundle


def save_definition(
    bundle: Bundle, definition: Mapping[str, Any], user: User | None = None
) -> BundleVersion:
    """Validate a definition and store it as the bundle's next version; commit."""
    normalised = validate_for_account(bundle.account_id, definition)
    current = current_version(bundle)
    if current is not None and current.definition == normalised:
        return current  # nothing changed: a second click on Save adds no version
    version = _add_version(bundle, normalised, user)
    db.session.commit()
    return version


def current_version(bundle: Bundle) -> BundleVersion | None:
    """Return the version the bundle runs, or None before its first save."""
    return version_by_number(bundle, bundle.current_version)


def version_by_number(bundle: Bundle, number: int) -> BundleVersion | None:
    """Return the bundle's version with that number, or None."""
    return db.session.scalar(
        select(BundleVersion).where(
            BundleVersion.account_id == bundle.account_id,
            BundleVersion.bundle_id == bundle.id,
            BundleVersion.number == number,
        )
    )


def _add_version(bundle: Bundle, definition: dict[str, Any], user: User | None) -> BundleVersion:
    # Numbered from the stored rows, not current_version, so a stale object cannot reuse one.
    latest = db.session.scalar(
        select(func.max(BundleVersion.number)).where(BundleVersion.bundle_id == bundle.id)
    )
    version = BundleVersion(
        account_id=bundle.account_id,
        bundle=bundle,
        number=(latest or 0) + 1,
        definition=definition,
        created_by_id=user.id if user else None,
    )
    db.session.add(version)
    bundle.current_version = version.number
    bundle.trigger_kind = definition["source"]["kind"]
    if bundle.trigger_kind == TriggerKind.WEBHOOK and not bundle.webhook_token:
        bundle.webhook_token = secrets.token_urlsafe(24)
    return version
