"""Bundle status changes and their journal events."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import JournalEvent, db
from models.bundle_lifecycle import (
    LifecycleError,
    delete_bundle,
    pause_bundle,
    restore_bundle,
    start_bundle,
)

DEFINITION = {"format": 1, "source": {"kind": "webhook"}, "blocks": []}


def kinds() -> list[str]:
    return db.session.scalars(select(JournalEvent.kind).order_by(JournalEvent.id)).all()


def test_pause_start_delete_restore_cycle(make_bundle):
    bundle = make_bundle(DEFINITION)
    pause_bundle(bundle)
    assert bundle.status == "paused"
    start_bundle(bundle)
    assert bundle.status == "running"
    delete_bundle(bundle)
    assert bundle.status == "deleted" and bundle.deleted_at is not None
    with pytest.raises(LifecycleError):
        start_bundle(bundle)
    restore_bundle(bundle)
    assert bundle.status == "paused"
    assert kinds() == ["bundle_paused", "bundle_started", "bundle_deleted", "bundle_restored"]


def test_unblocking_clears_the_reason_and_counter(make_bundle):
    bundle = make_bundle(DEFINITION, status="blocked", status_reason="10 runs failed",
                         consecutive_failures=10)
    start_bundle(bundle)
    assert (bundle.status, bundle.status_reason, bundle.consecutive_failures) == (
        "running", None, 0)
    assert kinds() == ["bundle_unblocked"]


def test_a_bundle_without_saved_settings_cannot_start(make_bundle):
    bundle = make_bundle(DEFINITION, status="draft")
    bundle.current_version = 0
    db.session.commit()
    with pytest.raises(LifecycleError, match="Save the bundle"):
        start_bundle(bundle)


def test_pause_is_seen_by_webhook_intake_at_once(client, make_bundle):
    bundle = make_bundle(DEFINITION)
    url = f"/hooks/{bundle.webhook_token}"
    assert client.post(url, json={}, csrf=False).json["status"] == "received"
    pause_bundle(bundle)
    assert client.post(url, json={}, csrf=False).json["status"] == "held"


def test_run_now_enqueues_a_manual_start(monkeypatch, make_bundle):
    from models.bundle_lifecycle import run_now
    from workers import dispatch

    calls = []
    monkeypatch.setattr(dispatch, "enqueue_start", lambda *args: calls.append(args) or True)
    bundle = make_bundle(DEFINITION, status="paused")
    assert run_now(bundle) is True
    assert calls == [(bundle.id, "manual")] and kinds() == ["bundle_forced"]
