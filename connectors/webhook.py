"""Incoming webhook: another service sends data to the bundle's own address."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from connectors.base import AuthKind, Connector, Field, trigger
from connectors.registry import register
from connectors.samples import fields_from_sample


@register
class Webhook(Connector):
    """Receive data pushed to a bundle's webhook address."""

    key = "webhook"
    name = "Webhook"
    icon = "🪝"
    description = "Start a bundle whenever another service sends data to its webhook address."
    auth_kind = AuthKind.WEBHOOK

    def test_connection(self) -> dict[str, Any]:
        """Report success: there is nothing to authenticate."""
        return {}

    # Outputs are learned from the last request received (see fields_from_sample).
    @trigger("catch", label="Catch webhook", push=True)
    def catch(self, params: Mapping[str, Any], event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Turn a received request {headers, query, body} into items, one per object."""
        body = str(event.get("body") or "")
        if not body.strip():
            # GET callbacks carry their data in the query string.
            return [dict(event.get("query") or {})]
        payload = _parse_body(body, _content_type(event))
        if isinstance(payload, list):
            return [_as_item(element) for element in payload]
        return [_as_item(payload)]

    @staticmethod
    def fields_from_sample(sample: Mapping[str, Any]) -> tuple[Field, ...]:
        """Return the output fields a received sample offers, named by dotted paths."""
        return fields_from_sample(sample)


def _content_type(event: Mapping[str, Any]) -> str:
    """Return the request's media type in lower case, whatever the header's spelling."""
    headers = {
        str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()
    }
    return headers.get("content-type", "").split(";")[0].strip().lower()


def _parse_body(body: str, content_type: str) -> Any:
    """Parse JSON or form bodies; keep anything else as text."""
    if content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(body, keep_blank_values=True))
    if content_type.endswith("json") or body.lstrip().startswith(("{", "[")):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body


def _as_item(value: Any) -> dict[str, Any]:
    """Wrap a value that is not an object so every item is a dict."""
    if isinstance(value, dict):
        return value
    return {"body": value} if isinstance(value, str) else {"value": value}
