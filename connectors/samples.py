"""Learn output fields from a sample payload, so mapping works for data we did not declare."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from connectors.fields import Field


def fields_from_sample(sample: Mapping[str, Any]) -> tuple[Field, ...]:
    """Return one output field per leaf of the sample, named by its dotted path."""
    return tuple(
        Field(path, path, type=_field_type(value)) for path, value in flatten_sample(sample)
    )


def flatten_sample(sample: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield (dotted path, value) for every leaf; lists stay whole, as one JSON leaf."""
    for key, value in sample.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from flatten_sample(value, f"{path}.")
        else:
            yield path, value


def _field_type(value: Any) -> str:
    """Guess the field type that fits a sample value."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, Mapping | list):
        return "json"
    return "string"
