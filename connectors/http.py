"""HTTP client for connectors: timeouts, SSRF guard, checked redirects and typed errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from connectors import netguard
from connectors.errors import ConnectorError, RetryableError
from connectors.pinning import PinnedAdapter
from connectors.responses import json_or_error, raise_for_status

__all__ = ["HttpClient", "json_or_error", "raise_for_status"]

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
    ) -> None:
        self.guard = guard
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_redirects = max_redirects
        self.session = _new_session(guard=guard, allow_private=allow_private)

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
    ) -> requests.Response:
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
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(
        self, method: str, url: str, *, timeout: float | None, **kwargs: Any
    ) -> requests.Response:
        """Send one request without following redirects, translating transport failures."""
        if self.guard:
            # Addresses are vetted at connect time by the pinned adapter; this catches the rest.
            netguard.check_url_syntax(url)
        read_timeout = self.read_timeout if timeout is None else timeout
        try:
            return self.session.request(
                method,
                url,
                timeout=(self.connect_timeout, read_timeout),
                allow_redirects=False,
                **kwargs,
            )
        except requests.RequestException as error:
            raise _transport_error(error, url, self.connect_timeout, read_timeout) from error


def _new_session(*, guard: bool, allow_private: bool) -> requests.Session:
    """Build a session whose connections are vetted by the SSRF guard when it is on."""
    session = requests.Session()
    session.headers.clear()
    session.headers.update(DEFAULT_HEADERS)
    if guard:
        # Proxies from the environment would resolve names themselves, around the guard.
        session.trust_env = False
        adapter = PinnedAdapter(allow_private=allow_private)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session


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


def _transport_error(
    error: requests.RequestException, url: str, connect_timeout: float, read_timeout: float
) -> ConnectorError:
    """Translate a requests failure into a short, human connector error."""
    host = urlsplit(url).netloc.rpartition("@")[2] or url
    if isinstance(error, requests.ConnectTimeout):
        return RetryableError(f"Timed out after {connect_timeout:g} s connecting to {host}")
    if isinstance(error, requests.Timeout):
        return RetryableError(f"Timed out after {read_timeout:g} s contacting {host}")
    if isinstance(error, requests.exceptions.SSLError):
        # A certificate problem is a setup problem: retrying will not fix it.
        return ConnectorError(f"Secure connection to {host} failed: {_root_reason(error)}")
    if isinstance(error, requests.ConnectionError):
        return RetryableError(f"Could not connect to {host}: {_root_reason(error)}")
    if isinstance(error, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
        return ConnectorError(f"Invalid address {url!r}")
    return RetryableError(f"Request to {host} failed: {_root_reason(error)}")


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
