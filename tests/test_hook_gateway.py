"""The webhook gateway in front of Flask: its own answers, and what it leaves to Flask."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from models import InboxEvent, db

WEBHOOK = {"format": 1, "source": {"kind": "webhook"}, "blocks": []}


@pytest.fixture
def bundle(make_bundle):
    return make_bundle(WEBHOOK)


def inbox_count() -> int:
    return db.session.scalar(select(func.count(InboxEvent.id)))


def test_other_methods_get_405_with_the_allowed_ones(client, bundle):
    response = client.delete(f"/hooks/{bundle.webhook_token}")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST, PUT, PATCH"
    assert response.json["ok"] is False and inbox_count() == 0


def test_answers_are_json_that_browsers_will_not_sniff_or_cache(client, bundle):
    response = client.post(f"/hooks/{bundle.webhook_token}", json={"a": 1}, csrf=False)
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_deeper_hook_paths_and_other_pages_are_left_to_flask(client, bundle):
    nested = client.post(f"/hooks/{bundle.webhook_token}/extra", json={}, csrf=False)
    assert nested.status_code == 404 and nested.json["ok"] is False  # Flask's JSON 404
    assert client.get("/hooks/").status_code == 404
    assert client.get("/healthz").mimetype == "application/json"  # served by Flask
    assert inbox_count() == 0


def test_chunked_body_over_the_limit_is_413_and_not_stored(app, client, bundle):
    app.config["HOOK_MAX_BYTES"] = 1000
    body = io.BytesIO(b'{"x": "' + b"y" * 5000 + b'"}')
    response = client.post(f"/hooks/{bundle.webhook_token}", input_stream=body,
                           content_type="application/json", csrf=False,
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413 and "limit is 1000 bytes" in response.json["error"]
    assert inbox_count() == 0


def test_database_failure_is_503_and_the_caller_may_retry(client, bundle, monkeypatch):
    gateway = client.application.wsgi_app

    def broken_store(target, parsed):
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(gateway.writer, "store", broken_store)
    response = client.post(f"/hooks/{bundle.webhook_token}", json={"a": 1}, csrf=False)
    assert response.status_code == 503
    assert response.json == {"ok": False,
                             "error": "The request could not be stored right now; send it again."}


def test_received_events_wake_a_drain_and_held_ones_do_not(client, make_bundle, monkeypatch):
    woken = []
    gateway = client.application.wsgi_app
    monkeypatch.setattr(gateway.wakeup, "notify", woken.append)
    running = make_bundle(WEBHOOK)
    paused = make_bundle(WEBHOOK, status="paused")
    client.post(f"/hooks/{running.webhook_token}", json={"a": 1}, csrf=False)
    client.post(f"/hooks/{paused.webhook_token}", json={"a": 1}, csrf=False)
    client.post(f"/hooks/{running.webhook_token}", data={"test": "test"}, csrf=False)
    assert woken == [running.id]


def test_url_for_still_builds_the_hook_address(app, bundle):
    from flask import url_for

    with app.test_request_context():
        assert url_for("hooks.receive", token="abc") == "/hooks/abc"
