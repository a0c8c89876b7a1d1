"""The executor: receivers, filters and If/Then logic over one item."""

from __future__ import annotations

import pytest

from connectors.errors import AuthError, ConnectorError, RetryableError
from workers.engine.executor import Executor, StepRecord

FAILED = {"any": [{"all": [{"field": "steps.update.result", "op": "equals", "value": 0,
                            "type": "result"}]}]}
CREATE_FAILED = {"any": [{"all": [{"field": "steps.create.result", "op": "equals",
                                   "value": 0, "type": "result"}]}]}


def receiver(block_id, action, **params):
    return {"id": block_id, "kind": "receiver", "service": "fake", "connection": 7,
            "action": action, "params": params}


def seed_scenario():
    """Seed 001: update; if that failed, create; if that failed too, alert."""
    return {"format": 1, "source": {"kind": "webhook"}, "blocks": [
        receiver("update", "update", email="{{source.email}}"),
        {"id": "if_update_failed", "kind": "logic", "conditions": FAILED, "then": [
            receiver("create", "create", email="{{email}}", name="{{name}}")]},
        {"id": "if_create_failed", "kind": "logic", "conditions": CREATE_FAILED, "then": [
            receiver("alert", "send", text="Not created: {{steps.create.errors}}")]},
    ]}


class FakeService:
    """Answers actions from a script: a value to return or an exception to raise."""

    def __init__(self, **script):
        self.script = script
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, block, params):
        self.calls.append((block["action"], params))
        outcome = self.script.get(block["action"], {"id": 1})
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def test_seed_update_succeeds_so_nothing_else_runs():
    service = FakeService(update={"id": 42})
    execution = Executor(seed_scenario(), service).run({"email": "a@b.c", "name": "Ann"})
    assert execution.status == "success"
    assert service.calls == [("update", {"email": "a@b.c"})]
    assert [(s.block_id, s.status) for s in execution.steps] == [
        ("update", "success"), ("if_update_failed", "else"), ("if_create_failed", "else")]
    assert execution.steps[0].output == {"id": 42, "result": 1, "errors": ""}


def test_seed_update_fails_then_create_runs_and_failure_is_handled():
    service = FakeService(update=ConnectorError("Contact not found"), create={"id": 7})
    execution = Executor(seed_scenario(), service).run({"email": "a@b.c", "name": "Ann"})
    assert service.calls == [("update", {"email": "a@b.c"}),
                             ("create", {"email": "a@b.c", "name": "Ann"})]
    # The update's failure is checked by a logic block: the run is a success.
    assert execution.status == "success"
    assert execution.steps[0].output == {"result": 0, "errors": "Contact not found"}


def test_seed_both_fail_so_the_alert_carries_the_error():
    service = FakeService(update=ConnectorError("Contact not found"),
                          create=ConnectorError("Email is invalid", service_message="422"))
    execution = Executor(seed_scenario(), service).run({"email": "bad", "name": "Ann"})
    assert service.calls[-1] == ("send", {"text": "Not created: Email is invalid (422)"})
    assert execution.status == "success"


def test_unhandled_receiver_failure_makes_the_run_an_error():
    definition = {"blocks": [receiver("only", "send", text="hi")]}
    execution = Executor(definition, FakeService(send=ConnectorError("boom"))).run({})
    assert execution.status == "error" and execution.error == "boom"


def test_filter_stops_the_item():
    definition = {"blocks": [
        {"id": "f", "kind": "filter", "conditions": {"any": [{"all": [
            {"field": "amount", "op": "gt", "value": 100, "type": "number"}]}]}},
        receiver("after", "send")]}
    service = FakeService()
    execution = Executor(definition, service).run({"amount": "50"})
    assert execution.status == "filtered" and service.calls == []
    assert execution.steps[0].status == "stopped"
    assert execution.steps[0].input[0]["actual"] == "50"


def test_transient_failure_pauses_for_retry_and_resume_reuses_done_steps():
    definition = {"blocks": [receiver("first", "a"), receiver("second", "b")]}
    service = FakeService(b=RetryableError("429", retry_after=7))
    execution = Executor(definition, service).run({})
    assert (execution.status, execution.retry_after, execution.retry_block) == (
        "retry", 7, "second")
    done = {s.block_id: s for s in execution.steps if s.status == "success"}
    service.script["b"] = {"ok": True}
    resumed = Executor(definition, service, done_steps=done).run({})
    assert resumed.status == "success"
    assert [call[0] for call in service.calls] == ["a", "b", "b"]  # "a" never redone
    assert "done in an earlier attempt" in resumed.steps[0].notes


def test_last_attempt_turns_transient_failure_into_result_zero():
    definition = {"blocks": [receiver("only", "a")]}
    execution = Executor(definition, FakeService(a=RetryableError("timed out")),
                         may_retry=False).run({})
    assert execution.status == "error"
    assert execution.steps[0].output == {"result": 0, "errors": "timed out"}


def test_auth_failure_is_reported_with_the_connection():
    definition = {"blocks": [receiver("only", "a")]}
    execution = Executor(definition, FakeService(a=AuthError("API key rejected"))).run({})
    assert execution.auth_failures == [7]


def test_missing_mapping_paths_are_noted_and_json_types_kept():
    definition = {"blocks": [receiver("only", "a", count="{{n}}", text="x{{nope}}y")]}
    service = FakeService()
    execution = Executor(definition, service).run({"n": 3})
    assert service.calls == [("a", {"count": 3, "text": "xy"})]
    assert execution.steps[0].notes == ["missing: nope"]


def test_nested_logic_else_branch_and_bundle_context():
    definition = {"blocks": [{"id": "l", "kind": "logic", "conditions": {"any": [{"all": [
        {"field": "vip", "op": "equals", "value": True, "type": "boolean"}]}]},
        "then": [receiver("vip", "a")],
        "else": [{"id": "inner", "kind": "logic", "conditions": {}, "then": [
            receiver("plain", "b", link="/bundles/{{bundle.id}}/runs/{{run.id}}")]}]}]}
    service = FakeService()
    Executor(definition, service).run({"vip": "no"}, {"bundle": {"id": 3}, "run": {"id": 9}})
    assert service.calls == [("b", {"link": "/bundles/3/runs/9"})]


@pytest.mark.parametrize("kind", ["then", "else"])
def test_logic_result_is_usable_later(kind):
    conditions = {} if kind == "then" else {"any": [{"all": [
        {"field": "x", "op": "exists"}]}]}
    definition = {"blocks": [{"id": "l", "kind": "logic", "conditions": conditions},
                             receiver("r", "a", seen="{{steps.l.result}}")]}
    service = FakeService()
    Executor(definition, service).run({})
    assert service.calls == [("a", {"seen": 1 if kind == "then" else 0})]


def test_step_record_defaults():
    assert StepRecord(0, "b", "receiver", "success").notes == []
