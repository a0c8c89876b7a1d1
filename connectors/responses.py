"""Turn HTTP answers into typed connector errors and parsed JSON."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from connectors.errors import AuthError, ConnectorError, RetryableError
from connectors.http_response import HttpResponse

EXCERPT_CHARS = 300
MESSAGE_KEYS = ("message", "error_description", "error", "detail", "title")


def raise_for_status(
    response: HttpResponse,
    *,
    service_message: str | None = None,
    auth_statuses: Collection[int] = (401, 403),
) -> None:
    """Raise the typed error that an unsuccessful status calls for; do nothing on success."""
    status = response.status_code
    if status < 400:
        return
    said = service_message or service_message_of(response)
    message = f"{_service_name(response)} answered {status} {response.reason or ''}".rstrip()
    message = f"{message}: {said}" if said else message
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise RetryableError(message, retry_after=retry_after, service_message=said, status=status)
    # Some services answer 403 for missing permissions, not for bad credentials; those
    # connectors leave 403 out of auth_statuses so the connection is not disabled.
    error_class = AuthError if status in auth_statuses else ConnectorError
    raise error_class(message, service_message=said, status=status)


def json_or_error(response: HttpResponse) -> Any:
    """Return the parsed JSON body, or explain what the service sent instead."""
    try:
        return response.json()
    except ValueError:
        pass
    status = response.status_code
    text = response.text.strip()
    if not text:
        raise ConnectorError(
            f"The service answered with an empty body instead of JSON (status {status})"
        )
    content_type = response.headers.get("Content-Type", "").lower()
    if "html" in content_type or text.startswith("<"):
        raise ConnectorError(f"The service answered with HTML instead of JSON (status {status})")
    raise ConnectorError(
        f"The service answered with text instead of JSON (status {status}): {excerpt(text)}"
    )


def service_message_of(response: HttpResponse) -> str:
    """Return the service's own error message: a JSON message field or a body excerpt."""
    try:
        body = response.json()
    except ValueError:
        return excerpt(response.text)
    found = _message_in(body)
    return excerpt(found) if found else excerpt(response.text)


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """Return the start of a text on one line, marked with an ellipsis when cut."""
    # Only a prefix is flattened: bodies can be megabytes long.
    window = limit * 4
    flat = " ".join(text[:window].split())
    cut = len(flat) > limit or len(text) > window
    return flat[:limit] + "…" if cut else flat


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Return the delay a Retry-After header asks for, in seconds (delay or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _message_in(body: Any) -> str | None:
    """Find a human message in the common shapes of JSON error bodies."""
    if isinstance(body, list) and body:
        return _message_in(body[0])
    if not isinstance(body, dict):
        return None
    for key in (*MESSAGE_KEYS, "errors"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, dict | list):
            nested = _message_in(value)
            if nested:
                return nested
    return None


def _service_name(response: HttpResponse) -> str:
    """Name the answering host for messages, falling back to 'The service'."""
    return urlsplit(response.url or "").hostname or "The service"
