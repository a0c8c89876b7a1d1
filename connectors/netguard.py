"""SSRF guard: refuse to call private, local or otherwise internal network addresses."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from connectors.errors import ConnectorError, RetryableError

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
BLOCKED_HINT = "private or local addresses are blocked; an admin can allow them in settings"


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse a URL that is malformed or whose host resolves to a blocked address."""
    parts = check_url_syntax(url)
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    vetted_addresses(parts.hostname or "", port, allow_private=allow_private)


def check_url_syntax(url: str) -> SplitResult:
    """Refuse non-http(s) schemes, missing hosts and credentials embedded in the URL."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ALLOWED_SCHEMES:
        raise ConnectorError(f"Only http and https addresses can be called, not {url!r}")
    if not parts.hostname:
        raise ConnectorError(f"The address {url!r} has no host name")
    if parts.username is not None or parts.password is not None:
        # Credentials in URLs end up in logs and in the journal; headers do not.
        raise ConnectorError("Put credentials in headers, not in the address")
    try:
        parts.port  # noqa: B018 - urlsplit only validates the port when it is read
    except ValueError:
        raise ConnectorError(f"The address {url!r} has an invalid port") from None
    return parts


def vetted_addresses(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Resolve a host once and return its addresses, refusing if any of them is blocked."""
    host = host.strip("[]")
    if not allow_private and _is_local_name(host):
        raise ConnectorError(f"Refusing to call {host}: {BLOCKED_HINT}")
    try:
        addresses = resolve_addresses(host, port)
    except (socket.gaierror, UnicodeError) as error:
        raise RetryableError(f"Could not resolve the host name {host}") from error
    if not allow_private:
        # Every address is checked, not just the first: the connection may try any of them.
        for address in addresses:
            if is_blocked_address(address):
                shown = address if address == host else f"{host} ({address})"
                raise ConnectorError(f"Refusing to call {shown}: {BLOCKED_HINT}")
    return addresses


def resolve_addresses(host: str, port: int) -> list[str]:
    """Return the distinct IP addresses a host name resolves to, in resolver order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_blocked_address(address: str) -> bool:
    """Tell whether an IP address is loopback, private, link-local or otherwise internal."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            # A socket to ::ffff:a.b.c.d talks to a.b.c.d, so that is the address to judge.
            return is_blocked_address(str(ip.ipv4_mapped))
        if ip.sixtofour and is_blocked_address(str(ip.sixtofour)):
            return True
    # is_global excludes private, loopback, link-local, reserved, unspecified, shared (CGNAT)
    # and documentation ranges; multicast needs its own test because parts of it are "global".
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified


def _is_local_name(host: str) -> bool:
    """Tell whether a name means this machine whatever DNS says (RFC 6761)."""
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")
