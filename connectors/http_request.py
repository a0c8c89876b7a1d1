"""Outgoing HTTP request to any address: the escape hatch for services without a connector."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from connectors.base import AuthKind, Connector, Field, action
from connectors.errors import ConnectorError
from connectors.http import raise_for_status
from connectors.http_response import HttpResponse
from connectors.registry import register
from connectors.responses import excerpt

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
BODY_TYPES = (("json", "JSON"), ("form", "Form (URL-encoded)"), ("none", "No body"))
MAX_TEXT_BYTES = 64 * 1024

INPUTS = (
    Field(
        "method",
        "Method",
        type="select",
        required=True,
        default="GET",
        options=tuple((method, method) for method in METHODS),
    ),
    Field("url", "URL", type="url", required=True, placeholder="https://api.example.com/items"),
    Field("headers", "Headers", type="keyvalue", help="Sent as given, e.g. Authorization."),
    Field("query", "Query parameters", type="keyvalue"),
    Field("body_type", "Body type", type="select", default="json", options=BODY_TYPES),
    Field(
        "body",
        "Body",
        type="json",
        depends_on=("body_type",),
        help="JSON for a JSON body; name/value pairs for a form.",
    ),
)
OUTPUTS = (
    Field("status", "Status code", type="number"),
    Field("headers", "Response headers", type="json"),
    Field("body", "Response body", type="json", help="Parsed JSON, or text (first 64 KB)."),
    Field("ok", "Succeeded (2xx)", type="boolean"),
)
SAMPLE = {
    "status": 200,
    "headers": {"content-type": "application/json"},
    "body": {"id": 42, "created": True},
    "ok": True,
}


@register
class HttpRequest(Connector):
    """Send an HTTP request to any address and hand its answer to later blocks."""

    key = "http_request"
    name = "HTTP request"
    icon = "🌐"
    description = "Call any web address with any method, headers and body."
    auth_kind = AuthKind.NONE

    def test_connection(self) -> dict[str, Any]:
        """Report success: there is no account to check."""
        return {}

    @action("request", label="Send request", inputs=INPUTS, outputs=OUTPUTS, sample=SAMPLE)
    def send_request(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send the request described by the inputs and return the answer."""
        method = str(params["method"]).upper()
        if method not in METHODS:
            raise ConnectorError(f"Unsupported method {method!r}; use one of {', '.join(METHODS)}")
        headers = _string_pairs(params.get("headers"), "Headers")
        body, content_type = _encoded_body(params.get("body_type"), params.get("body"))
        if content_type and not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = content_type
        response = self.http.request(
            method,
            str(params["url"]).strip(),
            headers=headers,
            params=_string_pairs(params.get("query"), "Query parameters"),
            data=body,
        )
        if response.status_code >= 400:
            # No stored credentials here, so a 401/403 must not disable anything: auth_statuses=().
            raise_for_status(response, service_message=excerpt(response.text), auth_statuses=())
        return {
            "status": response.status_code,
            "headers": {name.lower(): value for name, value in response.headers.items()},
            "body": _decoded_body(response),
            "ok": 200 <= response.status_code < 300,
        }


def _string_pairs(value: Any, label: str) -> dict[str, str]:
    """Return name/value pairs as strings, refusing anything that is not pairs."""
    if value in (None, ""):
        return {}
    if not isinstance(value, Mapping):
        raise ConnectorError(f"{label} must be name/value pairs")
    return {str(name): _as_text(item) for name, item in value.items()}


def _encoded_body(body_type: Any, body: Any) -> tuple[bytes | None, str | None]:
    """Return the body bytes and their content type for the chosen body type."""
    if body_type == "none" or body in (None, ""):
        return None, None
    if body_type == "form":
        if not isinstance(body, Mapping):
            raise ConnectorError("A form body must be name/value pairs")
        return _form_bytes(body), "application/x-www-form-urlencoded"
    if body_type != "json":
        raise ConnectorError(f"Unknown body type {body_type!r}; use json, form or none")
    if isinstance(body, str):
        # Mapped JSON arrives as text; send it as the document it spells, not as a string.
        try:
            body = json.loads(body)
        except ValueError as error:
            raise ConnectorError(f"The body is not valid JSON: {error}") from None
    compact = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return compact.encode(), "application/json"


def _form_bytes(body: Mapping[str, Any]) -> bytes:
    """Encode name/value pairs as a URL-encoded form; a list repeats its name."""
    pairs = [
        (str(name), _as_text(item))
        for name, value in body.items()
        for item in (value if isinstance(value, list) else [value])
    ]
    return urlencode(pairs).encode()


def _as_text(value: Any) -> str:
    """Render a value for a header, query or form field; structures become JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return "" if value is None else str(value)


def _decoded_body(response: HttpResponse) -> Any:
    """Return JSON when the answer says it is JSON, otherwise text cut to 64 KB."""
    content_type = response.headers.get("Content-Type", "").lower()
    if "json" in content_type:
        try:
            return response.json()
        except ValueError:
            pass  # Mislabelled JSON: hand over the text rather than fail the step.
    charset = response.encoding if "charset=" in content_type else None
    try:
        return response.content[:MAX_TEXT_BYTES].decode(charset or "utf-8", errors="ignore")
    except LookupError:
        return response.content[:MAX_TEXT_BYTES].decode("utf-8", errors="ignore")
