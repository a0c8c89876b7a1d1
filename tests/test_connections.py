"""Connections page: add each kind, edit, rename, search, test, refresh and delete."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from rq.job import JobStatus
from sqlalchemy import select

from connectors.base import AuthKind, Connector, Field
from connectors.http import json_or_error, raise_for_status
from connectors.registry import REGISTRY
from models import Bundle, Connection, InboxEvent, JournalEvent, Role, db
from models.connections import create_connection
from tests.fakes import rq_queue
from tests.fakes.http_sink import HttpSink
from workers import connection_jobs

API_KEY = "sk-live-7f3a9c2e1b4d"


class SinkService(Connector):
    """A tiny API-key service whose API is the local HTTP sink."""

    key = "sinksvc"
    name = "Sink service"
    icon = "🧪"
    description = "A service used by the tests."
    auth_kind = AuthKind.API_KEY
    auth_fields = (Field("api_key", "API key", type="secret", required=True),)
    config_fields = (
        Field("base_url", "API address", type="url", default="https://api.example.com"),
        Field("team", "Team", help="Which team's lists to offer."),
    )

    def test_connection(self) -> dict[str, Any]:
        """Ask the sink who the key belongs to."""
        response = self.http.request("GET", self.config["base_url"] + "/me",
                                     headers={"X-Key": self.secrets["api_key"]})
        raise_for_status(response)
        body = json_or_error(response)
        if body.get("renewed"):
            self.secrets = {**self.secrets, "api_key": body["renewed"]}
            self.secrets_changed = True
        return {"account": body.get("name")}

    def refresh_metadata(self) -> dict[str, Any]:
        """Read the lists and fields."""
        response = self.http.request("GET", self.config["base_url"] + "/lists",
                                     headers={"X-Key": self.secrets["api_key"]})
        raise_for_status(response)
        return json_or_error(response)


@pytest.fixture
def service(app) -> Iterator[type[Connector]]:
    """Register the sink service for one test."""
    REGISTRY[SinkService.key] = SinkService
    app.config["ALLOW_PRIVATE_NETWORK"] = True
    yield SinkService
    REGISTRY.pop(SinkService.key, None)


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    """Run the local service the sink connector talks to."""
    with HttpSink() as running:
        yield running


@pytest.fixture
def queue(monkeypatch) -> rq_queue.FakeQueue:
    """Record connection jobs instead of sending them to Redis."""
    return rq_queue.install(monkeypatch)


def add_connection(account_id: int, cls: type[Connector] = SinkService, name: str = "Main",
                   config: dict | None = None, secrets: dict | None = None) -> Connection:
    """Create a committed connection."""
    return create_connection(account_id, cls, name, config or {"base_url": "http://x"},
                             secrets if secrets is not None else {"api_key": API_KEY})


def receiver_definition(connection_id: int) -> dict:
    """Return a bundle definition with one receiver using the connection."""
    return {"format": 1, "source": {"kind": "webhook"},
            "blocks": [{"id": "send", "kind": "receiver", "service": "sinksvc",
                        "connection": connection_id, "action": "send", "params": {}}]}


def events(kind: str) -> list[JournalEvent]:
    """Return the journal events of a kind, oldest first."""
    return list(db.session.scalars(
        select(JournalEvent).where(JournalEvent.kind == kind).order_by(JournalEvent.id)))


def text(response) -> str:
    """Return a response body as text."""
    return response.get_data(as_text=True)


# --- adding -------------------------------------------------------------------------------


def test_service_grid_lists_registered_services(owner_client, service):
    page = text(owner_client.get("/connections/new"))
    assert "Sink service" in page and "A service used by the tests." in page
    assert 'href="/connections/new/sinksvc"' in page
    assert 'href="/connections/new/webhook"' in page


def test_api_key_connection_is_sealed_and_tested_at_once(owner_client, service, queue):
    form = text(owner_client.get("/connections/new/sinksvc"))
    assert 'value="Sink service 1"' in form
    assert 'type="password"' in form and "Advanced" in form

    response = owner_client.post("/connections/new/sinksvc", data={
        "name": "Sales team", "auth_api_key": API_KEY, "config_base_url": "http://127.0.0.1:9",
        "config_team": "north"})

    connection = db.session.scalars(select(Connection)).one()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/connections/{connection.id}?job=job-1"
    assert API_KEY.encode() not in connection.secrets_sealed
    assert connection.read_secrets() == {"api_key": API_KEY}
    assert connection.config == {"base_url": "http://127.0.0.1:9", "team": "north"}
    assert queue.calls() == [("workers.jobs.test_connection", (connection.id,))]
    assert 'value="Sink service 2"' in text(owner_client.get("/connections/new/sinksvc"))


def test_page_after_adding_polls_the_test_job(owner_client, service, queue):
    owner_client.post("/connections/new/sinksvc", data={
        "name": "Sales", "auth_api_key": API_KEY, "config_base_url": "http://127.0.0.1:9"})
    connection = db.session.scalars(select(Connection)).one()

    page = text(owner_client.get(f"/connections/{connection.id}?job=job-1"))

    assert f'hx-get="/connections/{connection.id}/jobs/job-1"' in page
    assert 'hx-trigger="every 1s"' in page and "Testing the connection" in page
    assert API_KEY not in page and "•••• stored" in page


def test_missing_secret_is_refused(owner_client, service, queue):
    response = owner_client.post("/connections/new/sinksvc", data={"name": "No key"})
    assert response.status_code == 422
    assert "This field is required." in text(response)
    assert db.session.scalars(select(Connection)).all() == []


def test_unknown_service_is_not_found(owner_client):
    assert owner_client.get("/connections/new/nope").status_code == 404


def test_webhook_connection_shows_address_and_waits_for_a_sample(owner_client, queue):
    response = owner_client.post("/connections/new/webhook", data={"name": "Tilda forms"})
    connection = db.session.scalars(select(Connection)).one()
    assert response.headers["Location"] == f"/connections/{connection.id}"
    assert queue.calls() == []  # nothing to test: the sample is the test
    assert len(connection.webhook_token) >= 32

    page = text(owner_client.get(f"/connections/{connection.id}"))
    url = f"http://localhost/hooks/{connection.webhook_token}"
    assert f'data-copy="{url}"' in page and f'value="{url}"' in page
    waiting = text(owner_client.get(f"/connections/{connection.id}/sample"))
    assert 'hx-trigger="every 2s"' in waiting and "Waiting for a test request" in waiting

    owner_client.post(f"/hooks/{connection.webhook_token}", csrf=False,
                      json={"name": "Ivan", "contact": {"email": "ivan@example.com"}})

    fields = text(owner_client.get(f"/connections/{connection.id}/sample"))
    assert "hx-trigger" not in fields
    assert "contact.email" in fields and "ivan@example.com" in fields

    owner_client.post(f"/connections/{connection.id}/delete")
    gone = owner_client.post(f"/hooks/{connection.webhook_token}", csrf=False, json={"a": 1})
    assert gone.status_code == 404
    event = db.session.scalars(select(InboxEvent)).one()
    assert event.connection_id is None  # the request stays in the inbox, unlinked


# --- the list -----------------------------------------------------------------------------


def test_list_shows_kind_status_and_bundle_counts(owner_client, service, make_bundle):
    account = owner_client.user.account
    used = add_connection(account.id, name="Used one")
    add_connection(account.id, name="Idle one")
    make_bundle(receiver_definition(used.id), account=account, name="A")
    make_bundle(receiver_definition(used.id), account=account, name="B", status="paused")
    make_bundle(receiver_definition(used.id), account=account, name="Gone", status="deleted")

    page = text(owner_client.get("/connections/"))

    rows = re.findall(r"<tr>.*?</tr>", page, flags=re.S)
    used_row = next(row for row in rows if "Used one" in row)
    idle_row = next(row for row in rows if "Idle one" in row)
    assert re.search(r'text-end">2</td>', used_row)
    assert re.search(r'text-end">0</td>', idle_row)
    assert "API key" in used_row and "active" in used_row and "not tested yet" in used_row


def test_search_returns_matching_rows_only(owner_client, service):
    account = owner_client.user.account
    add_connection(account.id, name="Marketing")
    add_connection(account.id, name="Support")

    rows = text(owner_client.get("/connections/?q=market", headers={"HX-Request": "true"}))

    assert "Marketing" in rows and "Support" not in rows
    assert "<html" not in rows
    assert "Nothing found" in text(owner_client.get("/connections/?q=zzz"))


# --- editing ------------------------------------------------------------------------------


def test_blank_secret_keeps_the_stored_value(owner_client, service, queue):
    connection = add_connection(owner_client.user.account_id)
    form = text(owner_client.get(f"/connections/{connection.id}/edit"))
    assert API_KEY not in form and "Leave blank to keep the stored value" in form

    response = owner_client.post(f"/connections/{connection.id}/edit", data={
        "name": "Renamed", "auth_api_key": "", "config_base_url": "http://127.0.0.1:8"})

    assert response.status_code == 302
    db.session.refresh(connection)
    assert connection.read_secrets() == {"api_key": API_KEY}
    assert connection.config["base_url"] == "http://127.0.0.1:8"
    assert connection.name == "Renamed"
    assert queue.calls() == [("workers.jobs.test_connection", (connection.id,))]


def test_entered_secret_replaces_the_stored_value(owner_client, service, queue):
    connection = add_connection(owner_client.user.account_id)
    owner_client.post(f"/connections/{connection.id}/edit", data={
        "name": "Main", "auth_api_key": "new-key-123456", "config_base_url": "http://x"})
    db.session.refresh(connection)
    assert connection.read_secrets() == {"api_key": "new-key-123456"}


def test_rename_inline(owner_client, service):
    connection = add_connection(owner_client.user.account_id)
    hx = {"HX-Request": "true"}
    editor = text(owner_client.get(f"/connections/{connection.id}/rename", headers=hx))
    assert 'value="Main"' in editor and "hx-post" in editor

    title = owner_client.post(f"/connections/{connection.id}/rename", data={"name": "Shop"},
                              headers=hx)

    assert "Shop" in text(title) and "<form" not in text(title)
    db.session.refresh(connection)
    assert connection.name == "Shop"
    refused = owner_client.post(f"/connections/{connection.id}/rename", data={"name": " "},
                                headers=hx)
    assert refused.status_code == 200 and "This field is required." in text(refused)


# --- test and refresh ---------------------------------------------------------------------


def test_test_button_enqueues_and_returns_a_polling_panel(owner_client, service, queue):
    connection = add_connection(owner_client.user.account_id)

    panel = text(owner_client.post(f"/connections/{connection.id}/test",
                                   headers={"HX-Request": "true"}))

    assert queue.calls() == [("workers.jobs.test_connection", (connection.id,))]
    assert f'hx-get="/connections/{connection.id}/jobs/job-1"' in panel
    assert 'hx-trigger="every 1s"' in panel


def test_refresh_button_enqueues_a_refresh(owner_client, service, queue):
    connection = add_connection(owner_client.user.account_id)
    response = owner_client.post(f"/connections/{connection.id}/refresh")
    assert response.headers["Location"] == f"/connections/{connection.id}?job=job-1"
    assert queue.calls() == [("workers.jobs.refresh_connection", (connection.id,))]


def test_workers_down_is_a_message_not_an_error(owner_client, service):
    connection = add_connection(owner_client.user.account_id)  # Redis of the tests is absent

    panel = owner_client.post(f"/connections/{connection.id}/test",
                              headers={"HX-Request": "true"})

    assert panel.status_code == 200
    assert "Workers are not reachable; try again in a minute." in text(panel)
    assert "hx-trigger" not in text(panel)


def test_job_status_polls_until_the_job_ends(owner_client, service, queue):
    connection = add_connection(owner_client.user.account_id)
    job = queue.enqueue("workers.jobs.test_connection", connection.id)
    url = f"/connections/{connection.id}/jobs/{job.id}"

    assert 'hx-trigger="every 1s"' in text(owner_client.get(url))

    job.status, job.result = JobStatus.FINISHED, {"ok": False, "message": "Bad key given"}
    done = text(owner_client.get(url))
    assert "hx-trigger" not in done and "Test failed:" in done and "Bad key given" in done

    job.status = JobStatus.FAILED
    assert "The job failed" in text(owner_client.get(url))
    assert "no longer available" in text(owner_client.get(f"/connections/{connection.id}/jobs/x"))


def test_job_of_another_connection_is_not_found(owner_client, service, queue):
    account_id = owner_client.user.account_id
    mine, other = add_connection(account_id), add_connection(account_id, name="Other")
    job = queue.enqueue("workers.jobs.test_connection", other.id)
    assert owner_client.get(f"/connections/{mine.id}/jobs/{job.id}").status_code == 404
    bundle_job = queue.enqueue("workers.jobs.drain_inbox", mine.id)
    assert owner_client.get(f"/connections/{mine.id}/jobs/{bundle_job.id}").status_code == 404


def test_job_success_stores_the_result(app, service, sink, make_account):
    connection = add_connection(make_account().id, config={"base_url": sink.url})
    sink.enqueue(body={"name": "Acme Ltd"})

    result = connection_jobs.test_connection(connection.id)

    assert result == {"ok": True, "message": "Connected: Acme Ltd"}
    assert sink.requests[0].headers["x-key"] == API_KEY
    db.session.refresh(connection)
    assert connection.last_test_ok is True and connection.last_tested_at is not None
    assert connection.last_test_message == "Connected: Acme Ltd"


def test_job_auth_error_deactivates_and_blocks_bundles(app, service, sink, make_account,
                                                       make_bundle):
    account = make_account()
    connection = add_connection(account.id, config={"base_url": sink.url})
    running = make_bundle(receiver_definition(connection.id), account=account)
    sink.enqueue(status=401, body={"message": "Invalid API key"})

    result = connection_jobs.test_connection(connection.id)

    assert result["ok"] is False and "Invalid API key" in result["message"]
    db.session.refresh(connection)
    db.session.refresh(running)
    assert connection.status == "inactive" and "Invalid API key" in connection.status_reason
    assert connection.last_test_ok is False
    assert running.status == "blocked" and "reconnect" in running.status_reason
    assert [event.connection_id for event in events("connection_inactive")] == [connection.id]
    assert [event.bundle_id for event in events("bundle_blocked")] == [running.id]


def test_job_reports_an_html_answer(app, service, sink, make_account):
    connection = add_connection(make_account().id, config={"base_url": sink.url})
    sink.enqueue(headers={"Content-Type": "text/html"}, body="<html>Login</html>")

    result = connection_jobs.test_connection(connection.id)

    assert result == {"ok": False,
                      "message": "The service answered with HTML instead of JSON (status 200)"}
    db.session.refresh(connection)
    assert connection.status == "active"


def test_successful_test_reactivates_and_keeps_renewed_secrets(app, service, sink, make_account):
    connection = add_connection(make_account().id, config={"base_url": sink.url})
    connection.status, connection.status_reason = "inactive", "key rejected"
    db.session.commit()
    sink.enqueue(body={"name": "Acme", "renewed": "sk-renewed-000000"})

    connection_jobs.test_connection(connection.id)

    db.session.refresh(connection)
    assert connection.status == "active" and connection.status_reason is None
    assert connection.read_secrets() == {"api_key": "sk-renewed-000000"}
    assert len(events("connection_active")) == 1


def test_refresh_stores_metadata_shown_on_the_page(owner_client, service, sink):
    connection = add_connection(owner_client.user.account_id, config={"base_url": sink.url})
    sink.enqueue(body={"lists": [{"id": 1}, {"id": 2}], "fields": {"a": 1, "b": 2, "c": 3}})

    assert connection_jobs.refresh_connection(connection.id) == {"ok": True,
                                                                 "message": "Refreshed"}

    db.session.refresh(connection)
    assert connection.last_refreshed_at is not None
    page = text(owner_client.get(f"/connections/{connection.id}"))
    assert "Lists: 2" in page and "Fields: 3" in page


def test_connector_crash_is_reported_not_raised(app, service, make_account, monkeypatch):
    connection = add_connection(make_account().id)
    monkeypatch.setattr(SinkService, "test_connection", lambda self: 1 / 0)
    result = connection_jobs.test_connection(connection.id)
    assert result["ok"] is False and "Internal error" in result["message"]


# --- deleting -----------------------------------------------------------------------------


def test_delete_confirms_then_pauses_bundles_with_events(owner_client, service, make_bundle):
    account = owner_client.user.account
    connection = add_connection(account.id, name="CRM")
    running = make_bundle(receiver_definition(connection.id), account=account, name="Leads")
    draft = make_bundle(receiver_definition(connection.id), account=account, name="Draft",
                        status="draft")
    other = make_bundle({"format": 1, "source": {"kind": "webhook"}}, account=account,
                        name="Unrelated")

    confirm = text(owner_client.get(f"/connections/{connection.id}/delete"))
    assert "cannot be restored" in confirm
    assert "Leads" in confirm and "Draft" in confirm and "Unrelated" not in confirm

    response = owner_client.post(f"/connections/{connection.id}/delete")

    assert response.headers["Location"] == "/connections/"
    flashed = text(owner_client.get("/connections/"))
    assert "Connection CRM deleted. Bundles switched off: 1." in flashed
    assert db.session.scalars(select(Connection)).all() == []
    for bundle in (running, draft, other):
        db.session.refresh(bundle)
    assert running.status == "paused" and draft.status == "draft"
    assert running.status_reason == "connection 'CRM' was deleted"
    assert other.status == "running" and other.status_reason is None
    assert [event.bundle_id for event in events("bundle_paused")] == [running.id]
    assert [event.bundle_id for event in events("bundle_connection_lost")] == [draft.id]
    assert events("connection_deleted")[0].message == "Connection 'CRM' deleted"


# --- roles --------------------------------------------------------------------------------


def test_viewers_can_look_but_not_change(login_as, service, queue):
    viewer = login_as(Role.VIEWER)
    connection = add_connection(viewer.user.account_id)

    page = text(viewer.get(f"/connections/{connection.id}"))
    assert "Main" in page and "Delete" not in page and 'data-action="test"' not in page
    assert viewer.get("/connections/new").status_code == 403
    assert viewer.get("/connections/new/sinksvc").status_code == 403
    assert viewer.post("/connections/new/webhook", data={"name": "X"}).status_code == 403
    assert viewer.get(f"/connections/{connection.id}/delete").status_code == 403
    assert viewer.post(f"/connections/{connection.id}/delete").status_code == 403
    assert viewer.post(f"/connections/{connection.id}/test").status_code == 403
    assert db.session.get(Connection, connection.id) is not None
    assert queue.calls() == []


def test_editors_may_add_connections(login_as, queue):
    editor = login_as(Role.EDITOR)
    response = editor.post("/connections/new/webhook", data={"name": "Forms"})
    assert response.status_code == 302
    assert db.session.scalars(select(Bundle)).all() == []
    assert db.session.scalars(select(Connection.name)).all() == ["Forms"]


def test_page_speaks_russian(owner_client, service):
    owner_client.user.language = "ru"
    db.session.commit()
    connection = add_connection(owner_client.user.account_id)
    page = text(owner_client.get(f"/connections/{connection.id}"))
    assert "Протестировать" in page and "Обновить" in page and "•••• сохранён" in page
    assert "Добавить подключение" in text(owner_client.get("/connections/"))
