"""Actions and triggers: declarations attached to connector methods by decorators."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from connectors.fields import Field

OPERATION_ATTR = "__connector_operation__"

Method = TypeVar("Method", bound=Callable[..., Any])


@dataclass(frozen=True)
class Operation:
    """Declare one action or trigger: its form, its outputs and the method that runs it."""

    key: str
    label: str
    kind: str
    method: str
    inputs: tuple[Field, ...] = ()
    outputs: tuple[Field, ...] = ()
    sample: Mapping[str, Any] = field(default_factory=dict)
    # A push trigger is fed by incoming requests (webhooks) instead of being polled.
    push: bool = False

    def describe(self) -> dict[str, Any]:
        """Return the operation as JSON for the UI."""
        return {
            "key": self.key,
            "label": self.label,
            "kind": self.kind,
            "push": self.push,
            "inputs": [item.describe() for item in self.inputs],
            "outputs": [item.describe() for item in self.outputs],
            "sample": dict(self.sample),
        }


@dataclass
class PollResult:
    """Hold the new items of a poll, the cursor to save and a stable id per item."""

    items: list[dict[str, Any]]
    cursor: dict[str, Any]
    item_keys: list[str]

    def __post_init__(self) -> None:
        # De-duplication pairs items with keys by position, so the lists must line up.
        if len(self.items) != len(self.item_keys):
            raise ValueError("PollResult needs exactly one item key per item")


def action(
    key: str,
    *,
    label: str,
    inputs: tuple[Field, ...] = (),
    outputs: tuple[Field, ...] = (),
    sample: Mapping[str, Any] | None = None,
) -> Callable[[Method], Method]:
    """Mark a method (self, params) -> dict as the action `key`."""
    return _marker(key, label, "action", inputs, outputs, sample, push=False)


def trigger(
    key: str,
    *,
    label: str,
    inputs: tuple[Field, ...] = (),
    outputs: tuple[Field, ...] = (),
    sample: Mapping[str, Any] | None = None,
    push: bool = False,
) -> Callable[[Method], Method]:
    """Mark a method as the trigger `key` (polling or, with push=True, fed by webhooks)."""
    # Polling: (self, params, cursor) -> PollResult. Push: (self, params, event) -> items.
    return _marker(key, label, "trigger", inputs, outputs, sample, push=push)


def _marker(
    key: str,
    label: str,
    kind: str,
    inputs: tuple[Field, ...],
    outputs: tuple[Field, ...],
    sample: Mapping[str, Any] | None,
    *,
    push: bool,
) -> Callable[[Method], Method]:
    """Build a decorator that attaches an Operation to the method it decorates."""

    def mark(method: Method) -> Method:
        operation = Operation(
            key=key,
            label=label,
            kind=kind,
            method=method.__name__,
            inputs=inputs,
            outputs=outputs,
            sample=dict(sample or {}),
            push=push,
        )
        setattr(method, OPERATION_ATTR, operation)
        return method

    return mark


def declared_operations(namespace: Mapping[str, Any]) -> list[Operation]:
    """Return the operations marked on the methods of a class body."""
    marked = (getattr(value, OPERATION_ATTR, None) for value in namespace.values())
    return [operation for operation in marked if isinstance(operation, Operation)]
