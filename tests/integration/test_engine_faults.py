"""The engine under faults, with real redis-server and rq worker processes."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from models import Run, db
from tests.fakes.http_sink import HttpSink
from tests.integration.conftest import wait_for
from tests.integration.test_webhook_to_action import forward_definition
from workers.scheduler import Scheduler

pytestmark = pytest.mark.integration


def runs_of(bundle_id: int) -> list[Run]:
    db.session.expire_all()
    return db.session.scalars(select(Run).where(Run.bundle_id == bundle_id)
                              .order_by(Run.id)).all()


def ticking_until(predicate, timeout: float = 30.0):
    """Tick the scheduler (retries, recovery, sweeps) until the predicate holds."""
    scheduler = Scheduler()

    def check():
        scheduler.tick()
        return predicate()

    return wait_for(check, timeout=timeout, interval=0.2)


def test_429_retry_after_is_honoured(live_app, client, make_bundle, start_worker):
    with HttpSink() as sink:
        sink.enqueue(status=429, headers={"Retry-After": "2"}, body={"error": "slow down"})
        bundle = make_bundle(forward_definition(sink.url + "/limited"))
        start_worker()
        client.post(f"/hooks/{bundle.webhook_token}", json={"email": "a@b.c"}, csrf=False)
        (run,) = ticking_until(lambda: [r for r in runs_of(bundle.id) if r.status == "success"])
        first, second = sink.requests[:2]
        assert second.received_at - first.received_at >= 2.0
        assert run.attempt == 1 and len(sink.requests) == 2


def test_a_worker_killed_mid_run_does_not_lose_the_run(live_app, client, make_bundle,
                                                       start_worker):
    live_app.config.update(STUCK_RUN_SECONDS=1, STUCK_CHECK_SECONDS=0)
    with HttpSink() as sink:
        sink.enqueue(status=200, delay=30)  # the first delivery hangs: the worker dies there
        bundle = make_bundle(forward_definition(sink.url + "/slow"))
        worker = start_worker()
        client.post(f"/hooks/{bundle.webhook_token}", json={"email": "a@b.c"}, csrf=False)
        wait_for(lambda: sink.requests, message="the first delivery to start")
        worker.kill()
        assert [r.status for r in runs_of(bundle.id)] in (["queued"], ["running"])
        start_worker()
        (run,) = ticking_until(lambda: [r for r in runs_of(bundle.id) if r.status == "success"])
        assert len(sink.requests) == 2  # at least once: the interrupted call is repeated
        assert run.error is None


def test_only_after_bundle_chains_the_next_bundle(live_app, client, make_bundle,
                                                  start_worker):
    with HttpSink() as sink:
        first = make_bundle(forward_definition(sink.url + "/first"), name="First")
        from models import Account

        account = db.session.get(Account, first.account_id)
        second_definition = {"format": 1, "source": {"kind": "schedule"}, "blocks": [{
            "id": "ping", "kind": "receiver", "service": "http_request", "connection": None,
            "action": "request", "params": {"method": "GET", "url": sink.url + "/second"}}]}
        second = make_bundle(second_definition, account=account, name="Second",
                             after_bundle_id=first.id, schedule={"mode": "after",
                                                                 "bundle_id": first.id})
        start_worker()
        client.post(f"/hooks/{first.webhook_token}", json={"email": "a@b.c"}, csrf=False)
        (chained,) = wait_for(lambda: [r for r in runs_of(second.id) if r.status == "success"])
        assert chained.trigger == "chain"
        assert [r.path for r in sink.requests] == ["/first", "/second"]


def test_seed_scenario_update_then_create_then_alert(live_app, client, make_bundle,
                                                     start_worker):
    """Seed 001 end to end: update fails, create fails, the alert carries the error."""
    with HttpSink() as sink:
        sink.enqueue(status=404, body={"errors": [{"message": "Customer not found"}]})
        sink.enqueue(status=422, body={"errors": [{"message": "Email is invalid"}]})
        failed = {"field": "steps.{}.result", "op": "equals", "value": 0, "type": "result"}

        def call(block_id, path, body):
            return {"id": block_id, "kind": "receiver", "service": "http_request",
                    "connection": None, "action": "request",
                    "params": {"method": "POST", "url": sink.url + path, "body_type": "json",
                               "body": body}}

        def when_failed(block_id):
            return {"any": [{"all": [{**failed, "field": failed["field"].format(block_id)}]}]}

        definition = {"format": 1, "source": {"kind": "webhook"}, "blocks": [
            call("update", "/update", {"email": "{{email}}"}),
            {"id": "if_update_failed", "kind": "logic", "conditions": when_failed("update"),
             "then": [call("create", "/create", {"email": "{{email}}"})]},
            {"id": "if_create_failed", "kind": "logic", "conditions": when_failed("create"),
             "then": [call("alert", "/alert",
                           {"text": "Not created: {{steps.create.errors}}"})]}]}
        bundle = make_bundle(definition)
        start_worker()
        client.post(f"/hooks/{bundle.webhook_token}", json={"email": "bad@"}, csrf=False)
        (run,) = wait_for(lambda: [r for r in runs_of(bundle.id) if r.finished_at])
        assert [r.path for r in sink.requests] == ["/update", "/create", "/alert"]
        alert = json.loads(sink.requests[2].body)["text"]
        assert alert.startswith("Not created:") and "422" in alert
        assert run.status == "success"  # every failure was checked by a later block
        steps = {s.block_id: s for s in run.steps}
        assert steps["update"].output["result"] == 0 and steps["create"].output["result"] == 0
        assert steps["alert"].output["result"] == 1
