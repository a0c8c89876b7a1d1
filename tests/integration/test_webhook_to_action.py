"""Webhook intake to HTTP action through real redis-server and rq worker processes."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from models import InboxEvent, Run, RunStep, db
from tests.fakes.http_sink import HttpSink
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration


def forward_definition(url: str) -> dict:
    """A bundle that forwards each item's email to a URL as JSON."""
    return {"format": 1, "source": {"kind": "webhook"}, "blocks": [{
        "id": "send", "kind": "receiver", "service": "http_request", "connection": None,
        "action": "request", "params": {"method": "POST", "url": url, "body_type": "json",
                                        "body": {"email": "{{source.email}}", "n": "{{n}}"}}}]}


def finished_runs() -> list[Run]:
    db.session.expire_all()
    return db.session.scalars(select(Run).where(
        Run.status.in_(["success", "error", "filtered"])).order_by(Run.id)).all()


def test_webhook_becomes_a_run_that_calls_the_service(live_app, client, make_bundle,
                                                      start_worker):
    with HttpSink() as sink:
        bundle = make_bundle(forward_definition(sink.url + "/contacts"))
        start_worker()
        response = client.post(f"/hooks/{bundle.webhook_token}",
                               json={"email": "ivan@example.com", "n": 5})
        assert response.status_code == 200 and response.json["ok"] is True
        (run,) = wait_for(finished_runs, message="the run to finish")
        assert run.status == "success", run.error
        request = sink.requests[0]
        assert (request.method, request.path) == ("POST", "/contacts")
        assert json.loads(request.body) == {"email": "ivan@example.com", "n": 5}
        step = db.session.scalar(select(RunStep).where(RunStep.run_id == run.id))
        assert step.output["result"] == 1 and step.output["status"] == 200
        assert run.inbox_event_id == response.json["id"]


def test_redis_down_during_intake_loses_nothing(live_app, client, make_bundle, redis_server,
                                                start_worker):
    live_app.config["SWEEP_AFTER_SECONDS"] = 0
    with HttpSink() as sink:
        bundle = make_bundle(forward_definition(sink.url + "/x"))
        redis_server.stop()
        ids = []
        for n in range(5):
            response = client.post(f"/hooks/{bundle.webhook_token}",
                                   json={"email": f"u{n}@example.com", "n": n})
            assert response.status_code == 200, response.get_data(as_text=True)
            ids.append(response.json["id"])
        assert db.session.scalar(select(func.count(InboxEvent.id))) == 5
        redis_server.start()
        start_worker()
        from workers.scheduler import Scheduler

        Scheduler().tick()  # the sweeper enqueues what was stored while Redis was down
        runs = wait_for(lambda: len(finished_runs()) == 5 and finished_runs(),
                        message="all five runs")
        assert sorted(r.inbox_event_id for r in runs) == sorted(ids)
        assert sorted(json.loads(r.body)["n"] for r in sink.requests) == [0, 1, 2, 3, 4]
