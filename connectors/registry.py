"""Registry of connector classes; adding a connector is one module plus one line here."""

from __future__ import annotations

import importlib
from typing import TypeVar

from connectors.base import Connector

BUILTIN_MODULES = (
    "connectors.webhook",
    "connectors.http_request",
    "connectors.helpcrunch",
    "connectors.telegram",
    "connectors.google_sheets",
)

REGISTRY: dict[str, type[Connector]] = {}

ConnectorClass = TypeVar("ConnectorClass", bound=type[Connector])


def register(cls: ConnectorClass) -> ConnectorClass:
    """Add a connector class to the registry under its key."""
    if not cls.key:
        raise ValueError(f"{cls.__name__} has no key")
    known = REGISTRY.get(cls.key)
    # Re-importing the same module (reloads in tests) may register the class again.
    if known is not None and _qualified_name(known) != _qualified_name(cls):
        raise ValueError(f"Connector key {cls.key!r} is already used by {_qualified_name(known)}")
    REGISTRY[cls.key] = cls
    return cls


def load_builtin() -> None:
    """Import the built-in connector modules so that they register themselves."""
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def get_connector(key: str) -> type[Connector]:
    """Return the connector class registered under `key`."""
    load_builtin()
    try:
        return REGISTRY[key]
    except KeyError:
        known = ", ".join(sorted(REGISTRY)) or "none"
        raise KeyError(f"No connector is registered as {key!r}; known: {known}") from None


def all_connectors() -> list[type[Connector]]:
    """Return every registered connector class, sorted by display name."""
    load_builtin()
    return sorted(REGISTRY.values(), key=lambda cls: cls.name.casefold())


def _qualified_name(cls: type) -> str:
    """Return module and class name, which identify a class across re-imports."""
    return f"{cls.__module__}.{cls.__qualname__}"
