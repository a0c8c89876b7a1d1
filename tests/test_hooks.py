"""Webhook intake: every request is stored before it is answered."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from models import Bundle, Connection, InboxEvent, db

WEBHOOK = {"format": 1, "source": {"kind": "webhook"}, "blocks": []}


@pytest.fixture
def bundle(make_bundle):
    return make_bundle(WEBHOOK)


def stored(event_id: int) -> InboxEvent:
    db.session.expire_all()
    return db.session.get(InboxEvent, event_id)


def test_json_body_is_stored_and_acknowledged_without_redis(client, bundle):
    response = client.post(f"/hooks/{bundle.webhook_token}?utm=x", json={"email": "a@b.c"},
                           headers={"Authorization": "Bearer s3cret", "X-Trace": "t1"},
                           csrf=False)
    assert response.status_code == 200
    assert response.json == {"ok": True, "id": response.json["id"], "status": "received"}
    event = stored(response.json["id"])
    assert event.payload == {"email": "a@b.c"} and event.query == {"utm": "x"}
    assert event.headers["X-Trace"] == "t1" and "Authorization" not in event.headers
    assert event.account_id == bundle.account_id and event.body == b'{"email": "a@b.c"}'


def test_form_body_as_tilda_sends_it(client, bundle):
    response = client.post(f"/hooks/{bundle.webhook_token}", csrf=False, data={
        "Name": "Иван", "Email": "ivan@example.com", "tranid": "1234567:8901234"})
    assert stored(response.json["id"]).payload == {
        "Name": "Иван", "Email": "ivan@example.com", "tranid": "1234567:8901234"}


def test_tilda_test_request_is_kept_as_a_sample_not_run(client, bundle):
    response = client.post(f"/hooks/{bundle.webhook_token}", data={"test": "test"}, csrf=False)
    assert response.status_code == 200 and response.json["status"] == "sample"


def test_multipart_keeps_fields_and_file_facts(client, bundle):
    response = client.post(f"/hooks/{bundle.webhook_token}", csrf=False,
                           content_type="multipart/form-data",
                           data={"name": "Ann", "cv": (io.BytesIO(b"12345"), "cv.pdf")})
    payload = stored(response.json["id"]).payload
    assert payload["name"] == "Ann"
    assert payload["cv"] == {"filename": "cv.pdf", "content_type": "application/pdf", "size": 5}


def test_text_body_and_undeclared_json(client, bundle):
    text = client.post(f"/hooks/{bundle.webhook_token}", data=b"hello",
                       content_type="text/plain", csrf=False)
    assert stored(text.json["id"]).payload == {"body": "hello"}
    sneaky = client.post(f"/hooks/{bundle.webhook_token}", data=b'[{"a": 1}]',
                         content_type="text/plain", csrf=False)
    assert stored(sneaky.json["id"]).payload == [{"a": 1}]


def test_get_with_query_string(client, bundle):
    response = client.get(f"/hooks/{bundle.webhook_token}?phone=%2B79991234567&tag=a&tag=b")
    assert stored(response.json["id"]).payload == {"phone": "+79991234567", "tag": ["a", "b"]}


def test_malformed_json_is_refused_and_nothing_is_stored(client, bundle):
    response = client.post(f"/hooks/{bundle.webhook_token}", data=b'{"a": ',
                           content_type="application/json", csrf=False)
    assert response.status_code == 400
    assert response.json["error"].startswith("Malformed JSON")
    assert db.session.scalar(select(func.count(InboxEvent.id))) == 0


def test_oversized_body_is_413(app, client, bundle):
    app.config["HOOK_MAX_BYTES"] = 100
    response = client.post(f"/hooks/{bundle.webhook_token}", json={"x": "y" * 200},
                           csrf=False)
    assert response.status_code == 413 and "limit is 100 bytes" in response.json["error"]
    app.config["MAX_CONTENT_LENGTH"] = 150
    response = client.post(f"/hooks/{bundle.webhook_token}", json={"x": "y" * 200},
                           csrf=False)
    assert response.status_code == 413 and response.json["ok"] is False


def test_binary_garbage_is_415(client, bundle):
    response = client.post(f"/hooks/{bundle.webhook_token}", data=b"\xff\xfe\x00",
                           content_type="application/octet-stream", csrf=False)
    assert response.status_code == 415


def test_unknown_token_is_404_json(client):
    response = client.post("/hooks/not-a-token", json={}, csrf=False)
    assert response.status_code == 404 and response.json["ok"] is False


def test_deleted_bundle_is_410(client, make_bundle):
    bundle = make_bundle(WEBHOOK, status="deleted")
    assert client.post(f"/hooks/{bundle.webhook_token}", json={}, csrf=False).status_code == 410


@pytest.mark.parametrize("status", ["paused", "draft", "blocked"])
def test_events_for_a_stopped_bundle_are_held(client, make_bundle, status):
    bundle = make_bundle(WEBHOOK, status=status)
    response = client.post(f"/hooks/{bundle.webhook_token}", json={"a": 1}, csrf=False)
    assert response.json["status"] == "held"


def test_idempotency_key_from_header_records_duplicates(client, make_bundle):
    definition = {**WEBHOOK, "source": {"kind": "webhook",
                                        "idempotency": {"header": "Idempotency-Key"}}}
    bundle = make_bundle(definition)
    url = f"/hooks/{bundle.webhook_token}"
    first = client.post(url, json={"a": 1}, headers={"Idempotency-Key": "k1"}, csrf=False)
    again = client.post(url, json={"a": 1}, headers={"idempotency-key": "k1"}, csrf=False)
    other = client.post(url, json={"a": 1}, headers={"Idempotency-Key": "k2"}, csrf=False)
    assert [r.json["status"] for r in (first, again, other)] == [
        "received", "duplicate", "received"]


def test_idempotency_key_from_json_path(client, make_bundle):
    definition = {**WEBHOOK, "source": {"kind": "webhook", "idempotency": {"path": "order.id"}}}
    bundle = make_bundle(definition)
    url = f"/hooks/{bundle.webhook_token}"
    statuses = [client.post(url, json={"order": {"id": 5}}, csrf=False).json["status"]
                for _ in range(2)]
    assert statuses == ["received", "duplicate"]


def test_webhook_connection_learns_the_sample(client, make_account):
    account = make_account()
    connection = Connection(account_id=account.id, service="webhook", name="Tilda",
                            webhook_token="conn-token-123456")
    db.session.add(connection)
    db.session.commit()
    response = client.post("/hooks/conn-token-123456", data={"Name": "A", "Phone": "1"},
                           csrf=False)
    assert response.json["status"] == "sample"
    db.session.expire_all()
    assert db.session.get(Connection, connection.id).sample == {"Name": "A", "Phone": "1"}


def test_bundle_rows_untouched_by_intake(client, bundle):
    client.post(f"/hooks/{bundle.webhook_token}", json={"a": 1}, csrf=False)
    db.session.expire_all()
    assert db.session.get(Bundle, bundle.id).status == "running"
