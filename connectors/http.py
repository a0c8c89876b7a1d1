"""HTTP client for connectors: timeouts, SSRF guard, checked redirects and typed errors.

Built directly on urllib3. The bytes on the wire are those the former requests-based client
sent (same headers in the same order, same URL normalisation and body encodings), and
failures read the same, so journals and the fakes' exact-request tests see no difference.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import urljoin, urlsplit

from urllib3 import PoolManager
from urllib3.exceptions import (
    HTTPError,
)
from urllib3.util import Retry, Timeout, create_urllib3_context

from connectors import netguard
from connectors.errors import ConnectorError
from connectors.http_failures import body_error, transport_error
from connectors.http_response import HttpResponse
from connectors.http_wire import (
    add_body_headers,
    encoded_body,
    merged_headers,
    prepared_url,
    request_target,
)
from connectors.pinning import pinned_pool_classes
from connectors.responses import json_or_error, raise_for_status

try:
    import certifi
except ImportError:  # pragma: no cover - certifi ships with the pinned dependencies
    certifi = None

__all__ = ["HttpClient", "HttpResponse", "json_or_error", "raise_for_status"]

# 301/302 turn a POST into a GET without a body, as browsers do; 307/308 keep everything.
BODY_KEEPING_REDIRECTS = (307, 308)
CREDENTIAL_HEADERS = ("Authorization", "Cookie", "Proxy-Authorization")
# Pools kept per client and connections kept per host.
POOLS = 10
CONNECTIONS_PER_HOST = 10
# Redirects are followed (and re-checked) here, and a call is never repeated by the transport.
NO_RETRIES = Retry(total=False, redirect=False)


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
        address, parts = prepared_url(url, params)
        fields = merged_headers(url, headers)
        body, content_type = encoded_body(url, json, data)
        add_body_headers(fields, method, body, content_type)
        wire_timeout = self.timeout
        if timeout is not None:
            wire_timeout = Timeout(connect=self.connect_timeout, read=timeout)
        try:
            pool = self.pools.connection_from_host(parts.hostname, parts.port, parts.scheme)
            raw = pool.urlopen(
                method,
                request_target(parts),
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
            raise transport_error(error, url, self.connect_timeout, read_timeout) from error
        try:
            content = raw.read()
        except (HTTPError, OSError) as error:
            raise body_error(error, url) from error
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
