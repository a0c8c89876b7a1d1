"""Export a bundle to a portable JSON document and import it into another workspace.

Connection ids mean nothing in another workspace, so an export names each connection by
name and service instead, and an import looks those up in the receiving workspace.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from models.account import Account, User
from models.base import db
from models.bundle import Bundle
from models.bundle_versions import create_bundle, current_version
from models.connection import Connection
from workers.engine.definition import DefinitionError, connection_slots

EXPORT_VERSION = 1
EXPORT_KEYS = ("svyazka_bundle", "name", "schedule", "definition")
MAX_NAME_LENGTH = 200  # Bundle.name column


def export_bundle(bundle: Bundle) -> dict[str, Any]:
    """Return the bundle's name, schedule and current definition with connections named."""
    version = current_version(bundle)
    if version is None:
        raise DefinitionError("definition", "this bundle has no saved definition to export")
    definition = copy.deepcopy(version.definition)
    connections = _connections_by_id(bundle.account_id)
    for path, holder in connection_slots(definition):
        connection_id = holder.get("connection")
        if connection_id is None:
            continue
        connection = connections.get(connection_id)
        if connection is None:
            raise DefinitionError(
                f"{path}.connection",
                f"connection {connection_id} no longer exists: choose another one and save",
            )
        holder["connection"] = {"name": connection.name, "service": connection.service}
    return {
        "svyazka_bundle": EXPORT_VERSION,
        "name": bundle.name,
        "schedule": copy.deepcopy(bundle.schedule or {}),
        "definition": definition,
    }


def import_bundle(account: Account, data: Mapping[str, Any], user: User | None = None) -> Bundle:
    """Create a draft bundle from an export, binding connections by name and service."""
    _check_export(data)
    definition = copy.deepcopy(dict(data["definition"]))
    connections = _connections_by_reference(account.id)
    for path, holder in connection_slots(definition):
        if "connection" in holder:
            where = f"{path}.connection"
            holder["connection"] = _resolve(holder["connection"], connections, where)
    return create_bundle(
        account, data["name"].strip(), definition, user, schedule=data.get("schedule")
    )


def _check_export(data: Any) -> None:
    if not isinstance(data, Mapping):
        raise DefinitionError("", "not a svyazka bundle export: expected a JSON object")
    _check_export_version(data.get("svyazka_bundle"))
    for key in data:
        if key not in EXPORT_KEYS:
            allowed = ", ".join(EXPORT_KEYS)
            raise DefinitionError(str(key), f"unknown key; expected one of: {allowed}")
    name = data.get("name")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_NAME_LENGTH:
        limit = f"1 to {MAX_NAME_LENGTH} characters"
        raise DefinitionError("name", f"give the bundle a name of {limit}")
    if not isinstance(data.get("schedule", {}), Mapping | None):
        raise DefinitionError("schedule", "must be an object")
    if not isinstance(data.get("definition"), Mapping):
        raise DefinitionError("definition", "missing: the export holds no bundle definition")


def _check_export_version(version: Any) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DefinitionError("svyazka_bundle", "missing: this is not a svyazka bundle export")
    if version > EXPORT_VERSION:
        raise DefinitionError(
            "svyazka_bundle", f"export version {version} was made by a newer svyazka: upgrade"
        )


def _resolve(reference: Any, connections: Mapping[tuple[str, str], list[int]], where: str) -> Any:
    if reference is None:
        return None
    if not _is_reference(reference):
        # A bare id would silently bind to whatever connection has that id here.
        raise DefinitionError(
            where, 'an export names its connections as {"name": ..., "service": ...}'
        )
    name, service = reference["name"], reference["service"]
    matches = connections.get((name, service), [])
    if not matches:
        raise DefinitionError(
            where, f"No connection named {name!r} ({service}) in this workspace: create it first"
        )
    if len(matches) > 1:
        raise DefinitionError(
            where,
            f"Several connections are named {name!r} ({service}) in this workspace: "
            "rename all but one",
        )
    return matches[0]


def _is_reference(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and set(value) == {"name", "service"}
        and all(isinstance(value[key], str) for key in value)
    )


def _connections_by_id(account_id: int) -> dict[int, Connection]:
    query = select(Connection).where(Connection.account_id == account_id)
    return {connection.id: connection for connection in db.session.scalars(query)}


def _connections_by_reference(account_id: int) -> dict[tuple[str, str], list[int]]:
    query = (
        select(Connection.id, Connection.name, Connection.service)
        .where(Connection.account_id == account_id)
        .order_by(Connection.id)
    )
    found: dict[tuple[str, str], list[int]] = {}
    for connection_id, name, service in db.session.execute(query):
        found.setdefault((name, service), []).append(connection_id)
    return found
