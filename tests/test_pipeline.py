"""The engine in-process: polling cursors, auth failures, blocking after failures."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connectors.base import AuthKind, Connector, Field, PollResult, action, trigger
from connectors.errors import AuthError, ConnectorError
from connectors.registry import REGISTRY
from models import Bundle, Connection, JournalEvent, Run, db
from workers import dispatch, pipeline, polling

ROWS: list[dict] = []


class FakeCrm(Connector):
    """A scripted service: its action obeys `outcome`, its trigger serves ROWS."""

    key = "fake_crm"
    name = "Fake CRM"
    auth_kind = AuthKind.API_KEY
    auth_fields = (Field("api_key", "API key", type="secret", required=True),)
    config_fields = (Field("base_url", "API address", default="http://fake"),)

    def test_connection(self):
        return {}

    @action("push", label="Push", inputs=(Field("outcome", "Outcome"),),
            outputs=(Field("id", "Id"),), sample={"id": 1})
    def push(self, params):
        if params.get("outcome") == "auth":
            raise AuthError("API key rejected", service_message="401 invalid key")
        if params.get("outcome") == "fail":
            raise ConnectorError("Validation failed")
        return {"id": 1, "key_seen": self.secrets["api_key"]}

    @trigger("rows", label="New rows", outputs=(Field("n", "N"),), sample={"n": 1})
    def rows(self, params, cursor):
        start = (cursor or {}).get("last", 0)
        fresh = ROWS[start:]
        return PollResult(items=fresh, cursor={"last": len(ROWS)},
                          item_keys=[str(row["n"]) for row in fresh])


@pytest.fixture(autouse=True)
def fake_crm(monkeypatch):
    REGISTRY[FakeCrm.key] = FakeCrm
    ROWS.clear()
    monkeypatch.setattr(dispatch, "enqueue_start", lambda *args: True)
    yield
    REGISTRY.pop(FakeCrm.key, None)


@pytest.fixture
def connection(make_account):
    account = make_account()
    conn = Connection(account_id=account.id, service="fake_crm", name="CRM", config={})
    conn.write_secrets({"api_key": "super-secret-key-123"})
    db.session.add(conn)
    db.session.commit()
    return conn


def push_definition(connection_id, outcome="ok", source=None):
    return {"format": 1, "source": source or {"kind": "manual"}, "blocks": [{
        "id": "push", "kind": "receiver", "service": "fake_crm", "connection": connection_id,
        "action": "push", "params": {"outcome": outcome}}]}


def polling_definition(connection_id, backfill=False):
    source = {"kind": "polling", "service": "fake_crm", "connection": connection_id,
              "trigger": "rows", "params": {}, "backfill": backfill}
    return push_definition(connection_id, source=source)


def runs(bundle_id):
    return db.session.scalars(select(Run).where(Run.bundle_id == bundle_id)
                              .order_by(Run.id)).all()


def account_of(connection):
    from models import Account

    return db.session.get(Account, connection.account_id)


def test_first_poll_starts_from_now_then_new_rows_become_runs(make_bundle, connection):
    bundle = make_bundle(polling_definition(connection.id), account=account_of(connection))
    ROWS.extend([{"n": 1}, {"n": 2}])
    assert polling.poll_bundle(bundle.id) == 0  # existing rows are history
    assert bundle.cursor == {"last": 2}
    ROWS.append({"n": 3})
    assert polling.poll_bundle(bundle.id) == 1
    assert [r.input for r in runs(bundle.id)] == [{"n": 3}]
    assert polling.poll_bundle(bundle.id) == 0
    assert db.session.get(Bundle, bundle.id).empty_polls == 2


def test_backfill_runs_existing_rows_and_seen_keys_are_not_repeated(make_bundle, connection):
    bundle = make_bundle(polling_definition(connection.id, backfill=True),
                         account=account_of(connection))
    ROWS.extend([{"n": 1}, {"n": 2}])
    assert polling.poll_bundle(bundle.id) == 2
    bundle.cursor = {"last": 0}  # a trigger that re-serves old rows must not re-run them
    db.session.commit()
    assert polling.poll_bundle(bundle.id) == 0
    assert [r.status for r in runs(bundle.id)] == ["success", "success"]


def test_secrets_are_masked_in_the_journal(make_bundle, connection):
    bundle = make_bundle(push_definition(connection.id), account=account_of(connection))
    polling.start_bundle(bundle.id, "manual")
    (run,) = runs(bundle.id)
    assert run.steps[0].output["key_seen"] == "•••"


def test_auth_failure_deactivates_connection_and_blocks_its_bundles(make_bundle, connection):
    account = account_of(connection)
    bundle = make_bundle(push_definition(connection.id, "auth"), account=account)
    other = make_bundle(push_definition(connection.id), account=account, name="Other")
    polling.start_bundle(bundle.id, "manual")
    db.session.expire_all()
    assert db.session.get(Connection, connection.id).status == "inactive"
    assert {db.session.get(Bundle, b.id).status for b in (bundle, other)} == {"blocked"}
    kinds = db.session.scalars(select(JournalEvent.kind)).all()
    assert kinds.count("bundle_blocked") == 2 and "connection_inactive" in kinds
    (run,) = runs(bundle.id)
    assert run.status == "error" and "API key rejected" in run.error
    assert "401 invalid key" in run.steps[0].error


def test_consecutive_failures_block_the_bundle(app, make_bundle, connection):
    app.config["BLOCK_AFTER_FAILURES"] = 3
    bundle = make_bundle(push_definition(connection.id, "fail"), account=account_of(connection))
    for _ in range(3):
        polling.start_bundle(bundle.id, "manual")
    db.session.expire_all()
    blocked = db.session.get(Bundle, bundle.id)
    assert blocked.status == "blocked" and "3 runs in a row failed" in blocked.status_reason


def test_a_batch_writes_the_streak_after_its_last_success_and_the_last_run_time(
        make_bundle, connection):
    from models.run import RunTrigger

    bundle = make_bundle(push_definition(connection.id, "{{source.outcome}}"),
                         account=account_of(connection))
    bundle.consecutive_failures = 4  # failures of earlier batches
    db.session.commit()
    outcomes = ["fail", "ok", "fail", "fail"]
    run_ids = pipeline.create_runs(bundle, [{"outcome": o} for o in outcomes], RunTrigger.MANUAL)
    db.session.commit()
    pipeline.process_runs(run_ids)
    db.session.expire_all()
    after = db.session.get(Bundle, bundle.id)
    assert [run.status for run in runs(bundle.id)] == ["error", "success", "error", "error"]
    assert after.consecutive_failures == 2 and after.status == "running"
    assert after.last_run_at == max(run.finished_at for run in runs(bundle.id))


def test_a_success_ends_the_streak_of_earlier_batches(make_bundle, connection):
    bundle = make_bundle(push_definition(connection.id), account=account_of(connection))
    bundle.consecutive_failures = 7
    db.session.commit()
    polling.start_bundle(bundle.id, "manual")
    db.session.expire_all()
    assert db.session.get(Bundle, bundle.id).consecutive_failures == 0


def test_failures_of_two_jobs_add_up_atomically(app, make_bundle, connection):
    from workers.outcomes import BundleTally

    bundle = make_bundle(push_definition(connection.id), account=account_of(connection))
    first, second = BundleTally(), BundleTally()  # two workers, each with its own batch
    for tally in (first, second, first, second):
        tally.record(bundle.id, bundle.account_id, failed=True, at=bundle.created_at)
        db.session.commit()
    db.session.expire_all()
    assert db.session.get(Bundle, bundle.id).consecutive_failures == 4


def test_a_job_delivered_twice_finds_its_run_finished(make_bundle, connection):
    bundle = make_bundle(push_definition(connection.id), account=account_of(connection))
    polling.start_bundle(bundle.id, "manual")
    (run,) = runs(bundle.id)
    assert pipeline.process_runs([run.id]) == []
    assert len(run.steps) == 1


def test_a_deleted_connection_fails_the_block_not_the_worker(make_bundle, connection):
    bundle = make_bundle(push_definition(connection.id), account=account_of(connection))
    db.session.delete(connection)
    db.session.commit()
    polling.start_bundle(bundle.id, "manual")
    (run,) = runs(bundle.id)
    assert run.status == "error" and "deleted" in run.error


def test_renewed_credentials_are_stored_after_a_run(make_bundle, connection, monkeypatch):
    def renewing_push(self, params):
        self.secrets = {"api_key": "renewed-key-456789"}
        self.secrets_changed = True
        return {"id": 2}

    monkeypatch.setattr(FakeCrm, "push", renewing_push)
    bundle = make_bundle(push_definition(connection.id), account=account_of(connection))
    polling.start_bundle(bundle.id, "manual")
    db.session.expire_all()
    assert db.session.get(Connection, connection.id).read_secrets() == {
        "api_key": "renewed-key-456789"}
