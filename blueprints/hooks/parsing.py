"""Read an incoming webhook request into headers, query, raw body and a payload."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request

# Headers that carry credentials are never stored.
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key",
                            "x-auth-token"})


class BadPayloadError(ValueError):
    """A request body that cannot be accepted; the message goes back to the caller."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class ParsedRequest:
    """What is stored of one incoming request."""

    method: str
    headers: dict[str, str]
    query: dict[str, Any]
    content_type: str | None
    body: bytes
    payload: Any


def parse_request(request: Request, limit: int) -> ParsedRequest:
    """Parse JSON, form, multipart or text bodies; refuse oversized or malformed ones."""
    too_large = BadPayloadError(f"Request body too large: the limit is {limit} bytes.", 413)
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    # Also bounds chunked bodies, which come without a length.
    request.max_content_length = limit
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise too_large from None
    if len(body) > limit:
        raise too_large
    query = multidict_to_dict(request.args)
    return ParsedRequest(
        method=request.method,
        headers={k: v for k, v in request.headers.items() if k.lower() not in SECRET_HEADERS},
        query=query, content_type=request.content_type, body=body,
        payload=payload_of(request, body, query))


def payload_of(request: Request, body: bytes, query: dict[str, Any]) -> Any:
    """Return the fields a bundle sees: the parsed body, or the query for a bare GET."""
    mimetype = request.mimetype or ""
    if not body:
        return query
    if mimetype == "application/json" or mimetype.endswith("+json"):
        return parse_json(body)
    if mimetype == "application/x-www-form-urlencoded":
        return multidict_to_dict(request.form)
    if mimetype == "multipart/form-data":
        fields = multidict_to_dict(request.form)
        for name, upload in request.files.items():
            fields[name] = {"filename": upload.filename, "content_type": upload.content_type,
                            "size": len(upload.read())}
        return fields
    text = decode_text(body)
    # Senders often post JSON without saying so.
    if text.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return {"body": text}


def parse_json(body: bytes) -> Any:
    """Parse a JSON body or explain where it is broken."""
    try:
        return json.loads(decode_text(body))
    except ValueError as error:
        raise BadPayloadError(f"Malformed JSON: {error}.") from None


def decode_text(body: bytes) -> str:
    """Decode a body as UTF-8, refusing binary garbage."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadPayloadError("The body is not UTF-8 text.", 415) from None


def multidict_to_dict(values) -> dict[str, Any]:
    """Turn a MultiDict into a dict; repeated keys become lists."""
    return {key: (items[0] if len(items) == 1 else items)
            for key, items in values.lists()}
