"""What an HttpClient call puts on the wire: the URL, the header fields and the body.

Prepared exactly as the former requests-based client did (URL normalisation, parameter and
form encoding, header order), so the fakes' exact-request tests and the services see the same
bytes.
"""

from __future__ import annotations

import json as jsonlib
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import SplitResult, quote, urlencode, urlsplit, urlunsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from connectors import netguard
from connectors.http_failures import invalid_address, unsendable

USER_AGENT = "svyazka"
# Fixed defaults keep the bytes we send identical whatever compression libraries exist.
DEFAULT_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
    "Connection": "keep-alive",
}
# Normalised addresses remembered per process (requests without params only).
URL_CACHE_SIZE = 512
# Methods that carry no body: only the others announce an empty one with Content-Length: 0.
BODILESS_METHODS = ("GET", "HEAD")
FORM_TYPE = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"
# Escapes are kept ('%' is safe) and reserved characters pass; anything else is encoded.
URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
URL_SAFE_WITHOUT_PERCENT = URL_SAFE.replace("%", "")
UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# A header name has no colon or white space; a value has no line break nor leading blank.
VALID_HEADER = {
    str: (re.compile(r"[^:\s][^:\r\n]*\Z"), re.compile(r"\S[^\r\n]*\Z|\Z")),
    bytes: (re.compile(rb"[^:\s][^:\r\n]*\Z"), re.compile(rb"\S[^\r\n]*\Z|\Z")),
}
# Header fields by lower-case name: (name as sent, value), in the order they go out.
Fields = dict[str, tuple[Any, Any]]
DEFAULT_FIELDS: Fields = {name.lower(): (name, value) for name, value in DEFAULT_HEADERS.items()}


def prepared_url(url: str, params: Any) -> tuple[str, SplitResult]:
    """Return the URL as sent (normalised, params appended, unsafe characters escaped), split."""
    if not params:
        # Most calls go to a handful of fixed addresses: normalise each once.
        return _prepared_bare_url(url)
    return _prepare_url(url, params)


@lru_cache(maxsize=URL_CACHE_SIZE)
def _prepared_bare_url(url: str) -> tuple[str, SplitResult]:
    """Return _prepare_url's answer for a URL without params, remembered (it is pure)."""
    return _prepare_url(url, None)


def _prepare_url(url: str, params: Any) -> tuple[str, SplitResult]:
    """Normalise the URL as urllib3 parses it, append params and escape unsafe characters."""
    stripped = url.lstrip()
    if ":" in stripped and not stripped.lower().startswith("http"):
        raise unsendable(url)  # e.g. "mailto:" or "host:80/path" without a scheme
    try:
        parsed = parse_url(stripped)
    except LocationParseError:
        raise invalid_address(url) from None
    host = parsed.host
    if not parsed.scheme or not host or host.startswith(("*", ".")):
        raise invalid_address(url)
    netloc = f"{parsed.auth}@{host}" if parsed.auth else host
    netloc = f"{netloc}:{parsed.port}" if parsed.port else netloc
    query = parsed.query or ""
    extra = _encoded_params(params) if params is not None else ""
    if extra:
        query = f"{query}&{extra}" if query else extra
    pieces = (parsed.scheme, netloc, parsed.path or "/", query, parsed.fragment or "")
    address = _requoted(urlunsplit(pieces))
    try:
        parts = urlsplit(address)
        parts.port  # noqa: B018 - urlsplit only validates the port when it is read
    except ValueError:
        raise invalid_address(url) from None
    if parts.scheme not in netguard.ALLOWED_SCHEMES:
        raise unsendable(url)
    return address, parts


def request_target(parts: SplitResult) -> str:
    """Return the path and query that go on the request line."""
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def _requoted(url: str) -> str:
    """Escape the characters a URL may not carry raw, keeping the escapes it already has."""
    try:
        return quote(_unescaped_unreserved(url), safe=URL_SAFE)
    except ValueError:
        # A '%' that starts no escape: encode every '%' rather than guess.
        return quote(url, safe=URL_SAFE_WITHOUT_PERCENT)


def _unescaped_unreserved(url: str) -> str:
    """Turn escapes of unreserved characters (%41 -> A) back into the characters."""
    if "%" not in url:
        return url
    head, *pieces = url.split("%")
    out = [head]
    for piece in pieces:
        code = piece[:2]
        if len(code) == 2 and code.isalnum():
            char = chr(int(code, 16))  # ValueError for "%zz": the caller's cue
            out.append(char + piece[2:] if char in UNRESERVED else f"%{piece}")
        else:
            out.append(f"%{piece}")
    return "".join(out)


def _encoded_params(data: Any) -> str:
    """URL-encode name/value pairs (a list value repeats its name; None drops it)."""
    if isinstance(data, str):
        return data  # already encoded by the caller
    if isinstance(data, bytes):
        return data.decode("ascii")
    items = data.items() if isinstance(data, Mapping) else data
    pairs = [(name, value) for name, values in items for value in _each(values)]
    return urlencode([pair for pair in pairs if pair[1] is not None], doseq=True)


def _each(values: Any) -> Any:
    """Return the values of a repeated field; a single value (text included) is one."""
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        return (values,)
    return values


def merged_headers(url: str, headers: Mapping[str, Any]) -> Fields:
    """Return the defaults overridden by the caller's headers (None removes a default)."""
    fields = dict(DEFAULT_FIELDS)
    for name, value in headers.items():
        if value is None:
            fields.pop(name.lower(), None)
            continue
        _check_header(url, name, value)
        # An overridden default keeps its place but takes the caller's spelling.
        fields[name.lower()] = (name, value)
    return fields


def _check_header(url: str, name: Any, value: Any) -> None:
    """Refuse header names and values that could split the request (line breaks and the like)."""
    for index, part in enumerate((name, value)):
        validators = VALID_HEADER[bytes if isinstance(part, bytes) else str]
        if not isinstance(part, str | bytes) or not validators[index].match(part):
            raise unsendable(url)


def encoded_body(url: str, json: Any, data: Any) -> tuple[bytes | None, str | None]:
    """Return the body to send and the content type it implies (None: say nothing)."""
    if not data and json is not None:
        try:
            text = jsonlib.dumps(json, allow_nan=False)
        except ValueError:
            raise unsendable(url) from None  # NaN or Infinity: not JSON
        return text.encode(), JSON_TYPE
    if not data:
        return None, None
    if isinstance(data, str):
        return data.encode(), None
    if isinstance(data, bytes | bytearray):
        return bytes(data), None
    if isinstance(data, Mapping | list | tuple):
        return _encoded_params(data).encode(), FORM_TYPE
    # Connectors send whole bodies; streaming files or iterators is not supported.
    raise TypeError(f"Cannot send a {type(data).__name__} as a request body")


def add_body_headers(
    fields: Fields, method: str, body: bytes | None, content_type: str | None
) -> None:
    """Add Content-Length, and Content-Type unless the caller chose one."""
    if body:
        fields["content-length"] = ("Content-Length", str(len(body)))
    elif method not in BODILESS_METHODS and "content-length" not in fields:
        fields["content-length"] = ("Content-Length", "0")
    if content_type and "content-type" not in fields:
        fields["content-type"] = ("Content-Type", content_type)
