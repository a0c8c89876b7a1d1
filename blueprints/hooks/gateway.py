"""Serve POST /hooks/<token> ahead of Flask: the intake is the hottest path of the product.

A webhook needs no session, login, CSRF, template or translation, and Flask's request
machinery costs about as much CPU as storing the event. The gateway answers hook URLs with
werkzeug's Request and Response only and hands every other path to the Flask app.
"""

from __future__ import annotations

import json
import logging
from functools import cached_property

from flask import Flask
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from blueprints.hooks.parsing import BadPayloadError, parse_request
from core.redisconn import get_redis
from models.inbox import InboxStatus
from models.inbox_intake import InboxWriter, find_target
from workers import dispatch
from workers.wakeup import DrainWakeup

log = logging.getLogger("svyazka.hooks")

PREFIX = "/hooks/"
METHODS = ("GET", "POST", "PUT", "PATCH")
JSON_HEADERS = {"Content-Type": "application/json", "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store"}


class HookGateway:
    """WSGI middleware that serves webhook intake and passes everything else on."""

    def __init__(self, app: Flask, downstream):
        self.app = app
        self.downstream = downstream

    def __call__(self, environ, start_response):
        token = hook_token(environ.get("PATH_INFO", ""))
        if token is None:
            return self.downstream(environ, start_response)
        return self.answer(token, Request(environ))(environ, start_response)

    @cached_property
    def wakeup(self) -> DrainWakeup:
        """Return this app's background sender of drain requests."""
        redis_client = get_redis(self.app)
        return DrainWakeup(lambda bundle_id: dispatch.enqueue_drain(
            bundle_id, connection=redis_client))

    @cached_property
    def writer(self) -> InboxWriter:
        """Compile the intake's statements for the app's database, once."""
        with self.app.app_context():
            from models.base import db

            return InboxWriter(db.engine)

    def answer(self, token: str, request: Request) -> Response:
        """Store the request for the bundle or connection behind the token; say how it went."""
        if request.method not in METHODS:
            response = error("Use POST (or GET with a query string) to send a webhook.", 405)
            response.headers["Allow"] = ", ".join(METHODS)
            return response
        try:
            return self.receive(token, request)
        except HTTPException as refused:  # a client that broke off, an unreadable form
            return error(refused.description or refused.name, refused.code or 400)
        except DBAPIError:
            log.exception("hook=%s state=not-stored", token[:6])
            return error("The request could not be stored right now; send it again.", 503)

    def receive(self, token: str, request: Request) -> Response:
        """Find the target, parse and store the request, then wake a worker."""
        target = find_target(self.writer.engine, token)
        if target is None:
            return error("Unknown webhook address: check the URL you copied.", 404)
        if target.gone:
            return error("This bundle was deleted; its webhook address no longer works.", 410)
        try:
            parsed = parse_request(request, self.body_limit())
        except BadPayloadError as bad:
            return error(str(bad), bad.status)
        event_id, status = self.writer.store(target, parsed)
        if status == InboxStatus.RECEIVED.value:
            self.wakeup.notify(target.bundle_id)  # after the commit, never before
        return reply({"ok": True, "id": event_id, "status": status}, 200)

    def body_limit(self) -> int:
        """Return the largest body accepted, read each time so settings apply at once."""
        config = self.app.config
        limits = [int(config["HOOK_MAX_BYTES"])]
        if config.get("MAX_CONTENT_LENGTH"):
            limits.append(int(config["MAX_CONTENT_LENGTH"]))
        return min(limits)


def hook_token(path: str) -> str | None:
    """Return the token of a /hooks/<token> path, or None for any other path."""
    if not path.startswith(PREFIX):
        return None
    token = path[len(PREFIX):]
    return token if token and "/" not in token else None


def reply(data: dict, status: int) -> Response:
    """Return a JSON response."""
    return Response(json.dumps(data), status=status, headers=JSON_HEADERS)


def error(message: str, status: int) -> Response:
    """Answer a webhook caller with a JSON error."""
    return reply({"ok": False, "error": message}, status)
