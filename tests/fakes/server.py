"""The plumbing shared by the fake HTTP servers: a local server, a request log, whole replies."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class RecordedRequest:
    """Hold one request exactly as the server received it (header names in lower case)."""

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
class Reply:
    """Hold one HTTP answer ready to send; delay is waited before answering."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


def reply(
    status: int,
    body: bytes | str | dict | list | None = None,
    headers: Mapping[str, str] | None = None,
    delay: float = 0.0,
    *,
    json_type: str = "application/json",
    ensure_ascii: bool = True,
) -> Reply:
    """Build a reply, encoding the body and giving it a matching content type unless set."""
    headers = dict(headers or {})
    has_type = any(name.lower() == "content-type" for name in headers)
    if isinstance(body, dict | list):
        body = json.dumps(body, ensure_ascii=ensure_ascii).encode()
        if not has_type:
            headers["Content-Type"] = json_type
    elif isinstance(body, str):
        body = body.encode()
        if not has_type:
            headers["Content-Type"] = "text/plain; charset=utf-8"
    return Reply(status, headers, body or b"", delay)


class FakeServer:
    """Serve on 127.0.0.1 (free port, optional TLS) in a daemon thread, logging requests."""

    # Methods answered through respond(); any other gets the standard library's 501.
    methods: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")
    # Appended to url to make base_url, the address a client is configured with.
    base_path = ""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._lock = threading.RLock()
        self._log: list[RecordedRequest] = []
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), FakeHandler)
        self._server.fake = self
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
        # A short poll interval makes close() (which waits for the serve loop) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        scheme = "https" if ssl_context else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        """Return the port the server listens on."""
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """Return the address a client should be configured with."""
        return f"{self.url}{self.base_path}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Return a copy of every request received so far, oldest first."""
        with self._lock:
            return list(self._log)

    def start(self) -> Self:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, waking handlers that are still delaying their answer."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def respond(self, request: RecordedRequest) -> Reply:
        """Log a request and return its reply; each fake says how."""
        raise NotImplementedError


class _Server(ThreadingHTTPServer):
    """A threading server that knows its fake."""

    # Keep-alive handler threads can outlive a test; never wait for them on close.
    block_on_close = False
    fake: FakeServer


class FakeHandler(BaseHTTPRequestHandler):
    """Read a request, ask the fake for the reply and send it in one write."""

    protocol_version = "HTTP/1.1"
    # Sets TCP_NODELAY: each answer is one write, so Nagle would only add latency.
    disable_nagle_algorithm = True
    server: _Server

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. a timeout test); nothing is left to answer.
            self.close_connection = True

    def do_any(self) -> None:
        """Answer a request with the fake's reply, after its delay unless the fake closes."""
        fake = self.server.fake
        if self.command not in fake.methods:
            self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({self.command!r})")
            return
        answer = fake.respond(self._recorded())
        if answer.delay and fake._closing.wait(answer.delay):
            self.close_connection = True
            return
        self.wfile.write(self._encoded(answer))

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: tests read the recorded requests instead."""

    def _recorded(self) -> RecordedRequest:
        """Read the body and return the request; repeated headers are joined with commas."""
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

    def _encoded(self, answer: Reply) -> bytes:
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


for _method in ALL_METHODS:
    setattr(FakeHandler, f"do_{_method}", FakeHandler.do_any)
