"""Connection pools that connect only to addresses the SSRF guard approved (defeats DNS rebinding).

Checking a URL and then letting the HTTP library resolve the name again leaves a gap: a
hostile DNS server can answer "public" to the check and "127.0.0.1" to the connection. Here
the connection itself resolves the name once, vets every address and connects to exactly
those addresses, so there is no second lookup to poison. TLS still verifies the certificate
against the host name, because only the socket's peer address is chosen by us.
"""

from __future__ import annotations

import socket
from functools import cache
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection

from connectors import netguard


class _PinnedConnectionMixin:
    """Open sockets only to the addresses netguard vetted in this very call."""

    allow_private: bool = False
    host: str
    port: int
    timeout: Any
    source_address: tuple[str, int] | None
    socket_options: Any

    def _new_conn(self) -> socket.socket:
        addresses = netguard.vetted_addresses(
            self.host, self.port, allow_private=self.allow_private
        )
        last_error: OSError | None = None
        for address in addresses:
            try:
                return connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except OSError as error:
                last_error = error
        # The exceptions urllib3 itself raises, so callers map them like any connect failure.
        if isinstance(last_error, TimeoutError):
            message = f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            raise ConnectTimeoutError(self, message) from last_error
        message = f"Failed to establish a new connection: {last_error}"
        raise NewConnectionError(self, message) from last_error  # type: ignore[arg-type]


@cache
def pinned_pool_classes(allow_private: bool) -> dict[str, type[HTTPConnectionPool]]:
    """Return http/https pool classes (for a PoolManager) whose connections pin vetted addresses."""
    policy = {"allow_private": allow_private}
    http_connection = type("PinnedHTTPConnection", (_PinnedConnectionMixin, HTTPConnection), policy)
    https_connection = type(
        "PinnedHTTPSConnection", (_PinnedConnectionMixin, HTTPSConnection), policy
    )
    http_pool = type("PinnedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_connection})
    https_pool = type(
        "PinnedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_connection}
    )
    return {"http": http_pool, "https": https_pool}
