"""Mask credential values before run data is stored in the journal."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MASK = "•••"


def mask_secrets(value: Any, secrets: Iterable[str]) -> Any:
    """Return value with every occurrence of a secret string replaced by a mask."""
    secrets = sorted(set(secrets), key=len, reverse=True)
    if not secrets:
        return value
    return _mask(value, secrets)


def _mask(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {key: _mask(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item, secrets) for item in value]
    return value
