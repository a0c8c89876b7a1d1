"""A tiny local HTTP server that records requests and answers from a programmable queue."""

from __future__ import annotations

import ssl
from collections import deque

from tests.fakes.server import ALL_METHODS, FakeServer, RecordedRequest, Reply, reply

__all__ = ["HttpSink", "RecordedRequest", "SinkResponse"]

DEFAULT_BODY = {"ok": True}
HANDLED_METHODS = ALL_METHODS
# One programmed answer; delay is waited before answering.
SinkResponse = Reply


class HttpSink(FakeServer):
    """Serve on 127.0.0.1 (free port, optional TLS), record requests, answer from a queue."""

    methods = HANDLED_METHODS

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(ssl_context=ssl_context)
        self._queue: deque[SinkResponse] = deque()

    def enqueue(
        self,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        body: bytes | str | dict | list | None = None,
        delay: float = 0.0,
    ) -> None:
        """Queue the answer to the next request; dicts and lists are sent as JSON."""
        with self._lock:
            self._queue.append(reply(status, body, headers, delay))

    def respond(self, request: RecordedRequest) -> SinkResponse:
        """Answer through _record, the hook subclasses (e.g. the benches) extend."""
        return self._record(request)

    def _record(self, request: RecordedRequest) -> SinkResponse:
        """Store a request and return the answer due for it."""
        with self._lock:
            self._log.append(request)
            return self._queue.popleft() if self._queue else reply(200, DEFAULT_BODY)
