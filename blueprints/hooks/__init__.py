"""Incoming webhooks: store every request before answering, then hand it to a worker."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from blueprints.hooks.parsing import BadPayloadError, parse_request
from core.extensions import csrf
from core.web import public
from models.inbox_intake import HookTarget, find_target, store_event
from workers import dispatch

bp = Blueprint("hooks", __name__, url_prefix="/hooks")
csrf.exempt(bp)


@bp.route("/<token>", methods=["GET", "POST", "PUT", "PATCH"])
@public
def receive(token: str):
    """Store an incoming request for the bundle or connection behind the token."""
    target = find_target(token)
    if target is None:
        return error("Unknown webhook address: check the URL you copied.", 404)
    if target.gone:
        return error("This bundle was deleted; its webhook address no longer works.", 410)
    try:
        parsed = parse_request(request)
    except BadPayloadError as bad:
        return error(str(bad), bad.status)
    event_id, status = store_event(target, parsed)
    if status == "received":
        dispatch.enqueue_drain(target.bundle_id)  # Redis down: the sweeper enqueues it later
    return jsonify(ok=True, id=event_id, status=status)


def error(message: str, status: int):
    """Answer a webhook caller with a JSON error."""
    return jsonify(ok=False, error=message), status


__all__ = ["HookTarget", "bp"]
