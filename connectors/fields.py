"""Form fields a connector declares: connection settings, operation inputs and outputs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

FIELD_TYPES = frozenset(
    {"string", "text", "secret", "number", "boolean", "select", "json", "url", "keyvalue"}
)


class AuthKind(StrEnum):
    """Name the ways a service can authorise a connection."""

    API_KEY = "api_key"
    OAUTH2 = "oauth2"
    BASIC = "basic"
    WEBHOOK = "webhook"
    NONE = "none"


@dataclass(frozen=True)
class Field:
    """Describe one form field; the UI renders it without running connector code."""

    name: str
    label: str
    type: str = "string"
    required: bool = False
    default: Any = None
    help: str = ""
    options: tuple[tuple[str, str], ...] = ()
    # Names a metadata key or connector method that lists the choices, for options that
    # depend on refreshed metadata or on other fields (listed in depends_on).
    options_from: str | None = None
    depends_on: tuple[str, ...] = ()
    placeholder: str = ""

    def __post_init__(self) -> None:
        # Fail at import time: a typo here would otherwise surface as a broken form.
        if self.type not in FIELD_TYPES:
            raise ValueError(f"Field {self.name!r} has unknown type {self.type!r}")

    def describe(self) -> dict[str, Any]:
        """Return the field as JSON for the UI."""
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "help": self.help,
            "options": [{"value": value, "label": label} for value, label in self.options],
            "options_from": self.options_from,
            "depends_on": list(self.depends_on),
            "placeholder": self.placeholder,
        }


def api_address(default: str, help: str = "Change only for a sandbox or a test server.") -> Field:
    """Declare the overridable API address every HTTP service has."""
    return Field("base_url", "API address", type="url", default=default, help=help)
