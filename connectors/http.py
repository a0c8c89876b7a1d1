"""HTTP client for connectors: timeouts, SSRF guard, checked redirects and typed errors.

Built directly on urllib3. The bytes on the wire are those the former requests-based client
sent (same headers in the same order, same URL normalisation and body encodings), and
failures read the same, so journals and the fakes' exact-request tests see no difference.
"""

from __future__ import annotations

import json as jsonlib
import re
import ssl
from collections.abc import Mapping
from functools import cache, lru_cache
from typing import Any
from urllib.parse import SplitResult, quote, urlencode, urljoin, urlsplit, urlunsplit

from urllib3 import PoolManager
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    HTTPError,
    LocationParseError,
    LocationValueError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util import Retry, Timeout, create_urllib3_context, parse_url

from connectors import netguard
from connectors.errors import ConnectorError, RetryableError
from connectors.http_response import HttpResponse
from connectors.pinning import pinned_pool_classes
from connectors.responses import json_or_error, raise_for_status

try:
    import certifi
except ImportError:  # pragma: no cover - certifi ships with the pinned dependencies
    certifi = None

__all__ = ["HttpClient", "HttpResponse", "json_or_error", "raise_for_status"]

USER_AGENT = "svyazka"
# Fixed defaults keep the bytes we send identical whatever compression libraries exist.
DEFAULT_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
    "Connection": "keep-alive",
}
# 301/302 turn a POST into a GET without a body, as browsers do; 307/308 keep everything.
BODY_KEEPING_REDIRECTS = (307, 308)
CREDENTIAL_HEADERS = ("Authorization", "Cookie", "Proxy-Authorization")
# Normalised addresses remembered per process (requests without params only).
URL_CACHE_SIZE = 512
# Pools kept per client and connections kept per host.
POOLS = 10
CONNECTIONS_PER_HOST = 10
# Methods that carry no body: only the others announce an empty one with Content-Length: 0.
BODILESS_METHODS = ("GET", "HEAD")
FORM_TYPE = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"
# Redirects are followed (and re-checked) here, and a call is never repeated by the transport.
NO_RETRIES = Retry(total=False, redirect=False)
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


class HttpClient:
    """Send HTTP requests with timeouts, an SSRF guard, checked redirects and typed errors."""

    def __init__(
        self,
        *,
        guard: bool = True,
        allow_private: bool = False,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_redirects: int = 5,
        ca_file: str | None = None,
    ) -> None:
        self.guard = guard
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_redirects = max_redirects
        self.timeout = Timeout(connect=connect_timeout, read=read_timeout)
        self.pools = _new_pool_manager(guard=guard, allow_private=allow_private, ca_file=ca_file)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        timeout: float | None = None,
    ) -> HttpResponse:
        """Send a request, following up to max_redirects checked redirects."""
        pending = {"headers": dict(headers or {}), "params": params, "json": json, "data": data}
        method = method.upper()
        for _ in range(self.max_redirects + 1):
            response = self._send(method, url, timeout=timeout, **pending)
            if not response.is_redirect:
                return response
            response.close()
            target = urljoin(response.url, response.headers["Location"])
            method, pending = _redirected(response.status_code, method, pending, url, target)
            url = target
        raise ConnectorError(f"Stopped after {self.max_redirects} redirects; last one to {url}")

    def close(self) -> None:
        """Close pooled connections."""
        self.pools.clear()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(
        self,
        method: str,
        url: str,
        *,
        timeout: float | None,
        headers: Mapping[str, Any],
        params: Any,
        json: Any,
        data: Any,
    ) -> HttpResponse:
        """Send one request without following redirects, translating transport failures."""
        if self.guard:
            # Addresses are vetted at connect time by the pinned pools; this catches the rest.
            netguard.check_url_syntax(url)
        address, parts = _prepared_url(url, params)
        fields = _merged_headers(url, headers)
        body, content_type = _encoded_body(url, json, data)
        _add_body_headers(fields, method, body, content_type)
        wire_timeout = self.timeout
        if timeout is not None:
            wire_timeout = Timeout(connect=self.connect_timeout, read=timeout)
        try:
            pool = self.pools.connection_from_host(parts.hostname, parts.port, parts.scheme)
            raw = pool.urlopen(
                method,
                _request_target(parts),
                body=body,
                headers={name: value for name, value in fields.values()},
                retries=NO_RETRIES,
                redirect=False,
                assert_same_host=False,
                timeout=wire_timeout,
                # Read below, so that a failure mid-body is told apart from one before it.
                preload_content=False,
                decode_content=True,
            )
        except (HTTPError, OSError) as error:
            read_timeout = self.read_timeout if timeout is None else timeout
            raise _transport_error(error, url, self.connect_timeout, read_timeout) from error
        try:
            content = raw.read()
        except (HTTPError, OSError) as error:
            raise _body_error(error, url) from error
        return HttpResponse(
            status_code=raw.status,
            reason=raw.reason,
            headers=raw.headers,
            url=address,
            content=content,
        )


def _new_pool_manager(*, guard: bool, allow_private: bool, ca_file: str | None) -> PoolManager:
    """Build the pools; with the guard on, their connections are vetted and pinned."""
    pools = PoolManager(
        num_pools=POOLS,
        maxsize=CONNECTIONS_PER_HOST,
        block=False,
        cert_reqs=ssl.CERT_REQUIRED,
        ssl_context=_tls_context(ca_file) if ca_file else _default_tls_context(),
    )
    # Environment proxies are never consulted: they would resolve names around the guard.
    if guard:
        pools.pool_classes_by_scheme = dict(pinned_pool_classes(allow_private))
    return pools


@cache
def _default_tls_context() -> ssl.SSLContext:
    """Return the process-wide verifying TLS context, built once: loading CAs costs CPU."""
    return _tls_context(None)


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Return a TLS context that verifies peers against ca_file, else certifi's CAs."""
    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    if ca_file or certifi is not None:
        context.load_verify_locations(cafile=ca_file or certifi.where())
    else:
        context.load_default_certs()
    return context


def _prepared_url(url: str, params: Any) -> tuple[str, SplitResult]:
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
        raise _unsendable(url)  # e.g. "mailto:" or "host:80/path" without a scheme
    try:
        parsed = parse_url(stripped)
    except LocationParseError:
        raise _invalid_address(url) from None
    host = parsed.host
    if not parsed.scheme or not host or host.startswith(("*", ".")):
        raise _invalid_address(url)
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
        raise _invalid_address(url) from None
    if parts.scheme not in netguard.ALLOWED_SCHEMES:
        raise _unsendable(url)
    return address, parts


def _request_target(parts: SplitResult) -> str:
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


def _merged_headers(url: str, headers: Mapping[str, Any]) -> Fields:
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
            raise _unsendable(url)


def _encoded_body(url: str, json: Any, data: Any) -> tuple[bytes | None, str | None]:
    """Return the body to send and the content type it implies (None: say nothing)."""
    if not data and json is not None:
        try:
            text = jsonlib.dumps(json, allow_nan=False)
        except ValueError:
            raise _unsendable(url) from None  # NaN or Infinity: not JSON
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


def _add_body_headers(
    fields: Fields, method: str, body: bytes | None, content_type: str | None
) -> None:
    """Add Content-Length, and Content-Type unless the caller chose one."""
    if body:
        fields["content-length"] = ("Content-Length", str(len(body)))
    elif method not in BODILESS_METHODS and "content-length" not in fields:
        fields["content-length"] = ("Content-Length", "0")
    if content_type and "content-type" not in fields:
        fields["content-type"] = ("Content-Type", content_type)


def _redirected(
    status: int, method: str, pending: dict[str, Any], source: str, target: str
) -> tuple[str, dict[str, Any]]:
    """Return the method and request arguments to use for a redirect's target."""
    headers = dict(pending["headers"])
    if _origin(source) != _origin(target):
        # Never hand one site's credentials to another.
        headers = {k: v for k, v in headers.items() if k.title() not in CREDENTIAL_HEADERS}
    # The Location already carries the query string; sending params again would repeat it.
    following = {**pending, "headers": headers, "params": None}
    if status in BODY_KEEPING_REDIRECTS or method == "HEAD":
        return method, following
    if status == 303 or method == "POST":
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        return "GET", {**following, "headers": headers, "json": None, "data": None}
    return method, following


def _origin(url: str) -> tuple[str, str, int | None]:
    """Return scheme, host and port: what decides whether credentials may follow."""
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _host_of(url: str) -> str:
    """Return host[:port] for messages, never the credentials or the path."""
    return urlsplit(url).netloc.rpartition("@")[2] or url


def _invalid_address(url: str) -> ConnectorError:
    """Return the error for an address that cannot be parsed."""
    return ConnectorError(f"Invalid address {url!r}")


def _unsendable(url: str) -> RetryableError:
    """Return the error for a request that cannot be put on the wire (worded as it always was)."""
    return RetryableError(f"Request to {_host_of(url)} failed: connection failed")


def _transport_error(
    error: BaseException, url: str, connect_timeout: float, read_timeout: float
) -> ConnectorError:
    """Translate a failure before the answer's headers into a short, human connector error."""
    host = _host_of(url)
    if isinstance(error, ConnectTimeoutError) and not isinstance(error, NewConnectionError):
        return RetryableError(f"Timed out after {connect_timeout:g} s connecting to {host}")
    if isinstance(error, ReadTimeoutError):
        return RetryableError(f"Timed out after {read_timeout:g} s contacting {host}")
    if isinstance(error, SSLError):
        return _secure_connection_error(host, error)
    if isinstance(error, NewConnectionError | ProtocolError | ClosedPoolError | OSError):
        return RetryableError(f"Could not connect to {host}: {_root_reason(error)}")
    if isinstance(error, LocationValueError):
        return _invalid_address(url)
    return RetryableError(f"Request to {host} failed: {_root_reason(error)}")


def _body_error(error: BaseException, url: str) -> ConnectorError:
    """Translate a failure while reading the answer's body, worded as it always was."""
    host = _host_of(url)
    if isinstance(error, SSLError):
        return _secure_connection_error(host, error)
    if isinstance(error, ReadTimeoutError):
        # A body that stalls halfway has always been reported as a broken connection.
        return RetryableError(f"Could not connect to {host}: {_root_reason(error)}")
    return RetryableError(f"Request to {host} failed: {_root_reason(error)}")


def _secure_connection_error(host: str, error: BaseException) -> ConnectorError:
    """Return the error for a failed TLS handshake or read."""
    # A certificate problem is a setup problem: retrying will not fix it.
    return ConnectorError(f"Secure connection to {host} failed: {_root_reason(error)}")


def _root_reason(error: BaseException) -> str:
    """Return the innermost OS-level reason of a wrapped failure (e.g. 'Connection refused')."""
    reason = "connection failed"
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            reason = current.strerror
        wrapped = getattr(current, "reason", None)
        if not isinstance(wrapped, BaseException) and current.args:
            wrapped = current.args[0]
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__
    return reason
