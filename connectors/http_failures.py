"""Turn transport failures of an HttpClient call into short, human connector errors."""

from __future__ import annotations

from urllib.parse import urlsplit

from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    LocationValueError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from connectors.errors import ConnectorError, RetryableError


def host_of(url: str) -> str:
    """Return host[:port] for messages, never the credentials or the path."""
    return urlsplit(url).netloc.rpartition("@")[2] or url


def invalid_address(url: str) -> ConnectorError:
    """Return the error for an address that cannot be parsed."""
    return ConnectorError(f"Invalid address {url!r}")


def unsendable(url: str) -> RetryableError:
    """Return the error for a request that cannot be put on the wire (worded as it always was)."""
    return RetryableError(f"Request to {host_of(url)} failed: connection failed")


def transport_error(
    error: BaseException, url: str, connect_timeout: float, read_timeout: float
) -> ConnectorError:
    """Translate a failure before the answer's headers into a short, human connector error."""
    host = host_of(url)
    if isinstance(error, ConnectTimeoutError) and not isinstance(error, NewConnectionError):
        return RetryableError(f"Timed out after {connect_timeout:g} s connecting to {host}")
    if isinstance(error, ReadTimeoutError):
        return RetryableError(f"Timed out after {read_timeout:g} s contacting {host}")
    if isinstance(error, SSLError):
        return _secure_connection_error(host, error)
    if isinstance(error, NewConnectionError | ProtocolError | ClosedPoolError | OSError):
        return RetryableError(f"Could not connect to {host}: {_root_reason(error)}")
    if isinstance(error, LocationValueError):
        return invalid_address(url)
    return RetryableError(f"Request to {host} failed: {_root_reason(error)}")


def body_error(error: BaseException, url: str) -> ConnectorError:
    """Translate a failure while reading the answer's body, worded as it always was."""
    host = host_of(url)
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
