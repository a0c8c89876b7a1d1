"""Typed failures a connector raises; workers turn them into journal rows and retries."""

from __future__ import annotations


class ConnectorError(Exception):
    """Report a permanent failure; the message is shown to the user in the journal."""

    def __init__(
        self,
        message: str,
        *,
        service_message: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.service_message = service_message
        self.status = status


class AuthError(ConnectorError):
    """Report credentials the service rejected, so the caller marks the connection inactive."""


class RetryableError(ConnectorError):
    """Report a temporary failure (rate limit, outage, timeout) that is worth retrying."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        service_message: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, service_message=service_message, status=status)
        self.retry_after = retry_after
