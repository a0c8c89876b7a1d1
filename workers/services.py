"""Calling connectors from workers: connections, credentials and shared HTTP clients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app

from connectors.base import AuthKind, Connector
from connectors.errors import AuthError, ConnectorError
from connectors.http import HttpClient
from connectors.registry import get_connector, load_builtin
from models.base import db
from models.connection import Connection
from models.setting import (
    OAUTH_ENDPOINT_FIELDS,
    get_setting,
    oauth_client_credentials,
    oauth_endpoints_overridable,
)

# One HTTP client per process and guard setting: keep-alive connections survive across jobs.
_HTTP_CLIENTS: dict[bool, HttpClient] = {}


def allow_private_network() -> bool:
    """Tell whether outgoing HTTP may reach private addresses (admin setting or config)."""
    return bool(current_app.config.get("ALLOW_PRIVATE_NETWORK")
                or get_setting("allow_private_network", False))


def shared_http_client() -> HttpClient:
    """Return this process's HTTP client for the current guard setting."""
    allow = allow_private_network()
    if allow not in _HTTP_CLIENTS:
        _HTTP_CLIENTS[allow] = HttpClient(allow_private=allow)
    return _HTTP_CLIENTS[allow]


class ConnectorPool:
    """Connector instances for one job, built once per connection."""

    def __init__(self, account_id: int) -> None:
        load_builtin()
        self.account_id = account_id
        self.http = shared_http_client()
        self._instances: dict[tuple[str, int | None], Connector] = {}
        self.secret_values: set[str] = set()

    def call(self, block: Mapping[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        """Run a receiver block's action with its rendered params."""
        connector = self.connector(block["service"], block.get("connection"))
        try:
            return connector.run_action(block["action"], params)
        finally:
            self.save_renewed_secrets()

    def save_renewed_secrets(self) -> None:
        """Store credentials a connector renewed (OAuth tokens); the caller commits."""
        for (_, connection_id), connector in self._instances.items():
            if connector.secrets_changed and connection_id is not None:
                connection = db.session.get(Connection, connection_id)
                if connection is not None:
                    connection.write_secrets(connector.secrets)
                    self.secret_values.update(secret_strings(connector.secrets))
                connector.secrets_changed = False

    def connector(self, service: str, connection_id: int | None) -> Connector:
        """Return a ready connector for a service and (when it needs one) a connection."""
        key = (service, connection_id)
        if key not in self._instances:
            self._instances[key] = self._build(service, connection_id)
        return self._instances[key]

    def _build(self, service: str, connection_id: int | None) -> Connector:
        cls = get_connector(service)
        if cls.auth_kind in (AuthKind.NONE, AuthKind.WEBHOOK) and connection_id is None:
            return cls({}, {}, http=self.http)
        connection = self._connection(connection_id, service)
        secrets = connection.read_secrets()
        config = connector_config(cls, connection.config)
        self.secret_values.update(secret_strings(secrets))
        self.secret_values.update(secret_strings({"client": config.get("oauth_client_secret")}))
        return cls(config, secrets, http=self.http)

    def _connection(self, connection_id: int | None, service: str) -> Connection:
        connection = db.session.get(Connection, connection_id) if connection_id else None
        if connection is None or connection.account_id != self.account_id:
            raise ConnectorError("The connection of this block was deleted: choose another")
        if connection.service != service:
            raise ConnectorError(f"Connection {connection.name!r} is not a {service} connection")
        if not connection.is_active:
            raise AuthError(f"Connection {connection.name!r} is inactive: "
                            f"{connection.status_reason or 'reconnect it'}")
        return connection


def connector_config(cls: type[Connector], config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a connection's config plus the instance's OAuth client for OAuth services."""
    merged = dict(config or {})
    if cls.auth_kind == AuthKind.OAUTH2:
        if not oauth_endpoints_overridable():
            for name in OAUTH_ENDPOINT_FIELDS:
                merged.pop(name, None)
        # Kept out of the connection itself: an admin may change the client at any time.
        credentials = oauth_client_credentials(cls.key)
        if credentials is not None:
            merged["oauth_client_id"], merged["oauth_client_secret"] = credentials
    return merged


def secret_strings(secrets: Mapping[str, Any]) -> set[str]:
    """Collect the secret values worth masking (long enough not to mask ordinary words)."""
    found: set[str] = set()
    for value in secrets.values():
        if isinstance(value, str) and len(value) >= 6:
            found.add(value)
        elif isinstance(value, Mapping):
            found |= secret_strings(value)
    return found
