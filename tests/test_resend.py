"""Resend of failed runs and refresh of events that never ran."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models import Account, InboxEvent, Run, db
from workers import dispatch
from workers.resend import RunFilter, refresh_waiting_events, resend_failed_runs

DEFINITION = {"format": 1, "source": {"kind": "webhook"}, "blocks": []}


@pytest.fixture
def enqueued(monkeypatch):
    calls = {"runs": [], "drain": []}
    monkeypatch.setattr(dispatch, "enqueue_runs", lambda ids: calls["runs"].append(ids) or True)
    monkeypatch.setattr(dispatch, "enqueue_drain",
                        lambda bundle_id, force=False: calls["drain"].append(bundle_id) or True)
    return calls


def add_run(bundle, status, created_at=None, **fields):
    run = Run(account_id=bundle.account_id, bundle_id=bundle.id, status=status,
              trigger="webhook", input={"n": fields.pop("n", 0)},
              created_at=created_at or datetime.now(UTC), **fields)
    db.session.add(run)
    db.session.commit()
    return run


def test_resend_by_ids_copies_input_and_links_the_original(make_bundle, enqueued):
    bundle = make_bundle(DEFINITION)
    failed = add_run(bundle, "error", n=7)
    succeeded = add_run(bundle, "success")
    new_ids = resend_failed_runs(bundle.account_id, [failed.id, succeeded.id])
    (copy,) = [db.session.get(Run, run_id) for run_id in new_ids]
    assert (copy.resent_from_id, copy.input, copy.trigger, copy.status) == (
        failed.id, {"n": 7}, "resend", "queued")
    assert copy.bundle_version_id is not None
    assert enqueued["runs"] == [new_ids]


def test_resend_by_filter_and_never_another_accounts_runs(make_bundle, make_account,
                                                          enqueued):
    mine = make_bundle(DEFINITION)
    theirs = make_bundle(DEFINITION, account=make_account("Other"))
    old = add_run(mine, "error", created_at=datetime.now(UTC) - timedelta(days=3))
    recent = add_run(mine, "error")
    foreign = add_run(theirs, "error")
    since = datetime.now(UTC) - timedelta(days=1)
    new_ids = resend_failed_runs(mine.account_id, run_filter=RunFilter(since=since))
    assert [db.session.get(Run, i).resent_from_id for i in new_ids] == [recent.id]
    assert resend_failed_runs(mine.account_id, [foreign.id]) == []
    assert old.id not in {db.session.get(Run, i).resent_from_id for i in new_ids}


def test_refresh_sends_held_events_of_running_bundles(make_bundle, enqueued):
    bundle = make_bundle(DEFINITION)
    paused = make_bundle(DEFINITION, account=db.session.get(Account, bundle.account_id),
                         status="paused")
    for target, status in ((bundle, "held"), (paused, "held"), (bundle, "processed")):
        db.session.add(InboxEvent(account_id=target.account_id, bundle_id=target.id,
                                  status=status, method="POST", headers={}, query={}))
    db.session.commit()
    assert refresh_waiting_events(bundle.account_id) == 1
    statuses = db.session.scalars(select(InboxEvent.status).order_by(InboxEvent.id)).all()
    assert statuses == ["received", "held", "processed"]
    assert enqueued["drain"] == [bundle.id]
