"""A tiny local HTTP server that records requests and answers from a programmable queue."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_BODY = {"ok": True}
HANDLED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class RecordedRequest:
    """Hold one request exactly as the sink received it (header names in lower case)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    # When the request arrived (time.time()), for latency and retry timing checks.
    received_at: float = field(default_factory=time.time)

    @property
    def query_params(self) -> dict[str, list[str]]:
        """Return the parsed query string."""
        return parse_qs(self.query, keep_blank_values=True)

    def json(self) -> Any:
        """Return the body parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class SinkResponse:
    """Hold one programmed answer; delay is waited before answering."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


class HttpSink:
    """Serve on 127.0.0.1 (free port, optional TLS), record requests, answer from a queue."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._lock = threading.Lock()
        self._queue: deque[SinkResponse] = deque()
        self._requests: list[RecordedRequest] = []
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        # Keep-alive handler threads can outlive a test; never wait for them on close.
        self._server.block_on_close = False
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
        # A short poll interval makes close() (which waits for the serve loop) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        scheme = "https" if ssl_context else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    @property
    def port(self) -> int:
        """Return the port the sink listens on."""
        return int(self._server.server_address[1])

    @property
    def requests(self) -> list[RecordedRequest]:
        """Return a copy of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

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
            self._queue.append(_response(status, headers or {}, body, delay))

    def start(self) -> HttpSink:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, waking handlers that are still delaying their answer."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HttpSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _record(self, request: RecordedRequest) -> SinkResponse:
        """Store a request and return the answer due for it."""
        with self._lock:
            self._requests.append(request)
            return self._queue.popleft() if self._queue else _response(200, {}, DEFAULT_BODY, 0)


def _response(
    status: int, headers: dict[str, str], body: bytes | str | dict | list | None, delay: float
) -> SinkResponse:
    """Build an answer, encoding the body and giving it a matching content type."""
    headers = dict(headers)
    has_type = any(name.lower() == "content-type" for name in headers)
    if isinstance(body, dict | list):
        body = json.dumps(body).encode()
        if not has_type:
            headers["Content-Type"] = "application/json"
    elif isinstance(body, str):
        body = body.encode()
        if not has_type:
            headers["Content-Type"] = "text/plain; charset=utf-8"
    return SinkResponse(status, headers, body or b"", delay)


def _handler_for(sink: HttpSink) -> type[BaseHTTPRequestHandler]:
    """Build a request handler class bound to one sink."""

    class SinkHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Sets TCP_NODELAY: each answer is one write, so Nagle would only add latency.
        disable_nagle_algorithm = True

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (e.g. a timeout test); nothing is left to answer.
                self.close_connection = True

        def do_any(self) -> None:
            answer = sink._record(self._recorded())
            if answer.delay and sink._closing.wait(answer.delay):
                self.close_connection = True
                return
            self.wfile.write(self._encoded(answer))

        def log_message(self, format: str, *args: Any) -> None:
            """Stay silent: tests read the recorded requests instead."""

        def _recorded(self) -> RecordedRequest:
            length = int(self.headers.get("Content-Length") or 0)
            target = urlsplit(self.path)
            headers: dict[str, str] = {}
            for name, value in self.headers.items():
                key = name.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            return RecordedRequest(
                method=self.command,
                path=target.path,
                query=target.query,
                headers=headers,
                body=self.rfile.read(length) if length else b"",
            )

        def _encoded(self, answer: SinkResponse) -> bytes:
            """Return status line, headers and body as one buffer, for a single write."""
            try:
                reason = HTTPStatus(answer.status).phrase
            except ValueError:
                reason = "Unknown"
            lines = [f"HTTP/1.1 {answer.status} {reason}"]
            lines += [f"{name}: {value}" for name, value in answer.headers.items()]
            lines.append(f"Content-Length: {len(answer.body)}")
            if answer.headers.get("Connection", "").lower() == "close":
                self.close_connection = True
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            return head if self.command == "HEAD" else head + answer.body

    for method in HANDLED_METHODS:
        setattr(SinkHandler, f"do_{method}", SinkHandler.do_any)
    return SinkHandler
