"""A fully read HTTP answer: what connectors look at, and nothing of the transport."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from urllib3 import HTTPHeaderDict

REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
FALLBACK_ENCODING = "utf-8"
QUOTES_AND_SPACE = "\"' "


class ResponseHeaders(Mapping[str, str]):
    """Read answer headers by any capitalisation; a repeated field reads as one joined value."""

    __slots__ = ("_fields",)

    def __init__(self, fields: HTTPHeaderDict) -> None:
        self._fields = fields

    def __getitem__(self, name: str) -> str:
        return self._fields[name]

    def __iter__(self) -> Iterator[str]:
        # One name per field, even when the server repeated it: items() then yields the joined
        # value once, where HTTPHeaderDict.items() would yield every occurrence separately.
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __contains__(self, name: object) -> bool:
        return name in self._fields

    def getlist(self, name: str) -> list[str]:
        """Return every value of a repeated field (e.g. Set-Cookie) separately."""
        return self._fields.getlist(name)

    def __repr__(self) -> str:
        return f"ResponseHeaders({dict(self.items())!r})"


class HttpResponse:
    """Hold one answer whose body was read in full: status, headers, bytes and final URL."""

    __slots__ = ("content", "encoding", "headers", "reason", "status_code", "url")

    def __init__(
        self,
        *,
        status_code: int,
        reason: str | None,
        headers: HTTPHeaderDict,
        url: str,
        content: bytes,
    ) -> None:
        self.status_code = status_code
        self.reason = reason
        self.headers = ResponseHeaders(headers)
        self.url = url
        self.content = content
        self.encoding = declared_encoding(self.headers.get("Content-Type"))

    @property
    def text(self) -> str:
        """Return the body decoded with the declared charset, else as UTF-8; never fail."""
        if not self.content:
            return ""
        try:
            return self.content.decode(self.encoding or FALLBACK_ENCODING, errors="replace")
        except LookupError:
            # An unknown charset name is the server's mistake; UTF-8 is the likeliest truth.
            return self.content.decode(FALLBACK_ENCODING, errors="replace")

    def json(self, **kwargs: Any) -> Any:
        """Return the body parsed as JSON; raise a ValueError subclass when it is not JSON."""
        if not self.encoding and len(self.content) > 3:
            try:
                # Undeclared: json.loads on bytes tells UTF-8 from UTF-16/32 by itself.
                return json.loads(self.content, **kwargs)
            except UnicodeDecodeError:
                pass
        return json.loads(self.text, **kwargs)

    @property
    def is_redirect(self) -> bool:
        """Tell whether this answer sends the client elsewhere (a redirect with a Location)."""
        return self.status_code in REDIRECT_STATUSES and "Location" in self.headers

    def close(self) -> None:
        """Do nothing: the body was read eagerly, so the connection is already back in its pool."""

    def __repr__(self) -> str:
        return f"<HttpResponse [{self.status_code}]>"


def declared_encoding(content_type: str | None) -> str | None:
    """Return the charset a Content-Type declares; JSON without one is UTF-8 (RFC 8259)."""
    if not content_type:
        return None
    media_type, _, parameters = content_type.partition(";")
    charset = None
    for parameter in parameters.split(";"):
        name, equals, value = parameter.partition("=")
        if equals and name.strip(QUOTES_AND_SPACE).lower() == "charset":
            charset = value.strip(QUOTES_AND_SPACE)  # the last one wins, as with repeated headers
    if charset is not None:
        return charset
    return FALLBACK_ENCODING if "application/json" in media_type else None
