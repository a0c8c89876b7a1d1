"""The connector contract: declared fields and operations, plus the dispatch around them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.errors import ConnectorError
from connectors.fields import AuthKind, Field
from connectors.http import HttpClient
from connectors.operations import Operation, PollResult, action, declared_operations, trigger

__all__ = [
    "AuthKind",
    "Connector",
    "Field",
    "Operation",
    "PollResult",
    "action",
    "trigger",
]


class Connector:
    """Describe a service declaratively and call it; subclasses add fields and operations."""

    key: ClassVar[str] = ""
    name: ClassVar[str] = ""
    icon: ClassVar[str] = "🔌"
    description: ClassVar[str] = ""
    auth_kind: ClassVar[AuthKind] = AuthKind.NONE
    auth_fields: ClassVar[tuple[Field, ...]] = ()
    config_fields: ClassVar[tuple[Field, ...]] = ()
    actions: ClassVar[dict[str, Operation]] = {}
    triggers: ClassVar[dict[str, Operation]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Copy the parent's tables so a subclass can add or override operations
        # without changing its parent.
        cls.actions = dict(cls.actions)
        cls.triggers = dict(cls.triggers)
        declared_here: set[tuple[str, str]] = set()
        for operation in declared_operations(vars(cls)):
            if (operation.kind, operation.key) in declared_here:
                raise ValueError(
                    f"{cls.__name__} declares {operation.kind} {operation.key!r} twice"
                )
            declared_here.add((operation.kind, operation.key))
            table = cls.actions if operation.kind == "action" else cls.triggers
            table[operation.key] = operation

    def __init__(
        self,
        config: Mapping[str, Any],
        secrets: Mapping[str, Any],
        *,
        http: HttpClient | None = None,
    ) -> None:
        self.config = dict(config)
        self.secrets = dict(secrets)
        self._http = http
        # Set when the connector renewed its credentials (OAuth tokens): the worker then
        # stores self.secrets again.
        self.secrets_changed = False

    @property
    def http(self) -> HttpClient:
        """Return the injected HTTP client, or a guarded default one."""
        if self._http is None:
            self._http = HttpClient()
        return self._http

    def test_connection(self) -> dict[str, Any]:
        """Make one cheap authenticated call and describe the account it reached."""
        raise NotImplementedError

    def refresh_metadata(self) -> dict[str, Any]:
        """Fetch lists, custom fields and pipelines that option lists draw from."""
        return {}

    def run_action(self, key: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Run the action `key` with its input values."""
        operation = self._find(self.actions, key, "action")
        return getattr(self, operation.method)(_checked_inputs(operation, params))

    def poll(
        self, key: str, params: Mapping[str, Any], cursor: Mapping[str, Any] | None
    ) -> PollResult:
        """Fetch the items of trigger `key` that are newer than the cursor."""
        operation = self._find(self.triggers, key, "trigger")
        if operation.push:
            raise ConnectorError(f"Trigger {operation.label!r} receives webhooks; it cannot poll")
        return getattr(self, operation.method)(_checked_inputs(operation, params), cursor)

    def receive(
        self, key: str, params: Mapping[str, Any], event: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Turn one incoming request for push trigger `key` into items."""
        operation = self._find(self.triggers, key, "trigger")
        if not operation.push:
            raise ConnectorError(f"Trigger {operation.label!r} polls; it cannot receive webhooks")
        return getattr(self, operation.method)(_checked_inputs(operation, params), event)

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Return the connector's fields and operations as JSON for the UI."""
        return {
            "key": cls.key,
            "name": cls.name,
            "icon": cls.icon,
            "description": cls.description,
            "auth_kind": str(cls.auth_kind),
            "auth_fields": [item.describe() for item in cls.auth_fields],
            "config_fields": [item.describe() for item in cls.config_fields],
            "actions": [operation.describe() for operation in cls.actions.values()],
            "triggers": [operation.describe() for operation in cls.triggers.values()],
        }

    def _find(self, table: Mapping[str, Operation], key: str, kind: str) -> Operation:
        """Return the declared operation `key` or explain that there is none."""
        try:
            return table[key]
        except KeyError:
            raise ConnectorError(f"{self.name} has no {kind} named {key!r}") from None


def _checked_inputs(operation: Operation, params: Mapping[str, Any]) -> dict[str, Any]:
    """Fill declared defaults and refuse to run without required inputs."""
    values = dict(params)
    for item in operation.inputs:
        if values.get(item.name) is None and item.default is not None:
            values[item.name] = item.default
        if item.required and values.get(item.name) in (None, ""):
            raise ConnectorError(f"{operation.label}: {item.label} is required")
    return values
