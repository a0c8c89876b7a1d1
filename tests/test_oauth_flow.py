"""OAuth connections end to end against a local fake of Google's consent page and token API."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from models import Connection, JournalEvent, Role, db
from tests.fakes import rq_queue
from tests.fakes.google import FakeGoogle
from workers import connection_jobs

CALLBACK = "http://localhost/connections/oauth/callback"


@pytest.fixture
def google(app) -> Iterator[FakeGoogle]:
    """Serve the fake Google on a local port; the app may call it."""
    import connectors.google_sheets  # noqa: F401 - registers the connector

    app.config.update(ALLOW_PRIVATE_NETWORK=True, OAUTH_ENDPOINT_OVERRIDES=True)
    with FakeGoogle() as fake:
        yield fake


@pytest.fixture
def configured(app, google) -> FakeGoogle:
    """Give the instance the fake's OAuth client, as SVYAZKA_OAUTH_GOOGLE_SHEETS_* would."""
    app.config.update(OAUTH_GOOGLE_SHEETS_CLIENT_ID=google.client_id,
                      OAUTH_GOOGLE_SHEETS_CLIENT_SECRET=google.client_secret)
    return google


@pytest.fixture
def queue(monkeypatch) -> rq_queue.FakeQueue:
    """Record connection jobs instead of sending them to Redis."""
    return rq_queue.install(monkeypatch)


def form_for(google: FakeGoogle, name: str = "My Google") -> dict:
    """Return the new-connection form pointing at the fake."""
    return {"name": name, "config_base_url": google.base_url,
            "config_token_url": google.token_url, "config_authorize_url": google.authorize_url}


def consent(location: str) -> str:
    """Visit the provider's consent page and return the callback path it redirects to."""
    answer = requests.get(location, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    target = answer.headers["Location"]
    assert target.startswith(CALLBACK + "?")
    return target[len("http://localhost"):]


def test_full_flow_creates_a_connection_with_sealed_tokens(owner_client, configured, queue):
    google = configured
    start = owner_client.post("/connections/new/google_sheets", data=form_for(google))

    location = start.headers["Location"]
    assert location.startswith(google.authorize_url + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["client_id"] == [google.client_id]
    assert query["redirect_uri"] == [CALLBACK]
    assert query["code_challenge_method"] == ["S256"] and query["access_type"] == ["offline"]

    finished = owner_client.get(consent(location))

    connection = db.session.scalars(select(Connection)).one()
    assert finished.headers["Location"] == f"/connections/{connection.id}?job=job-1"
    assert connection.name == "My Google" and connection.service == "google_sheets"
    tokens = connection.read_secrets()
    assert tokens["access_token"].startswith("ya29.fake-")
    assert tokens["refresh_token"].startswith("1//0fake-")
    assert tokens["refresh_token"].encode() not in connection.secrets_sealed
    assert "oauth_client_secret" not in connection.config
    (token_request,) = google.token_requests()
    assert "code_verifier=" in token_request.body.decode()
    assert queue.calls() == [("workers.jobs.test_connection", (connection.id,))]


def test_test_job_renews_the_token_with_the_instance_client(owner_client, configured, queue):
    owner_client.get(consent(owner_client.post(
        "/connections/new/google_sheets", data=form_for(configured)).headers["Location"]))
    connection = db.session.scalars(select(Connection)).one()
    first_token = connection.read_secrets()["access_token"]

    result = connection_jobs.test_connection(connection.id)

    assert result == {"ok": True, "message": "Connected: Google account"}
    db.session.refresh(connection)
    assert connection.read_secrets()["access_token"] != first_token  # renewed and stored
    assert configured.token_requests()[-1].body.decode().count("grant_type=refresh_token") == 1


def test_state_mismatch_is_refused(owner_client, configured, queue):
    owner_client.post("/connections/new/google_sheets", data=form_for(configured))

    forged = owner_client.get("/connections/oauth/callback?state=forged&code=abc")
    missing = owner_client.get("/connections/oauth/callback?code=abc")

    assert forged.status_code == 400 and "state does not match" in forged.get_data(as_text=True)
    assert missing.status_code == 400
    assert db.session.scalars(select(Connection)).all() == []


def test_state_of_another_user_is_refused(owner_client, login_as, configured, queue):
    location = owner_client.post("/connections/new/google_sheets",
                                 data=form_for(configured)).headers["Location"]
    intruder = login_as(Role.OWNER)
    assert intruder.get(consent(location)).status_code == 400


def test_provider_refusal_is_explained(owner_client, configured, queue):
    configured.deny_consent = True
    location = owner_client.post("/connections/new/google_sheets",
                                 data=form_for(configured)).headers["Location"]

    back = owner_client.get(consent(location), follow_redirects=True)

    assert "Google Sheets did not grant access: access_denied" in back.get_data(as_text=True)
    assert db.session.scalars(select(Connection)).all() == []


def test_missing_client_tells_where_to_set_it(owner_client, google, queue):
    page = owner_client.get("/connections/new/google_sheets").get_data(as_text=True)
    assert "Settings → OAuth clients" in page and 'href="/settings/#oauth-google_sheets"' in page

    response = owner_client.post("/connections/new/google_sheets", data=form_for(google),
                                 follow_redirects=True)

    assert "needs an OAuth client first" in response.get_data(as_text=True)
    assert google.requests == []


def test_client_from_admin_settings_is_used(owner_client, google, queue):
    owner_client.post("/settings/oauth/google_sheets", data={
        "google_sheets-client_id": google.client_id,
        "google_sheets-client_secret": google.client_secret})
    location = owner_client.post("/connections/new/google_sheets",
                                 data=form_for(google)).headers["Location"]

    owner_client.get(consent(location))

    assert db.session.scalars(select(Connection.service)).all() == ["google_sheets"]


def test_reconnect_updates_the_inactive_connection(owner_client, configured, queue):
    owner_client.get(consent(owner_client.post(
        "/connections/new/google_sheets", data=form_for(configured)).headers["Location"]))
    connection = db.session.scalars(select(Connection)).one()
    old_refresh = connection.read_secrets()["refresh_token"]
    connection.status, connection.status_reason = "inactive", "Google refused to renew access"
    db.session.commit()
    assert "Reconnect" in owner_client.get(f"/connections/{connection.id}").get_data(
        as_text=True)

    location = owner_client.post(f"/connections/{connection.id}/reconnect").headers["Location"]
    owner_client.get(consent(location))

    db.session.refresh(connection)
    assert db.session.scalars(select(Connection)).all() == [connection]
    assert connection.status == "active" and connection.status_reason is None
    assert connection.read_secrets()["refresh_token"] != old_refresh
    kinds = db.session.scalars(select(JournalEvent.kind)).all()
    assert "connection_reconnected" in kinds


def test_endpoint_overrides_are_off_by_default(app, owner_client, configured, queue):
    app.config["OAUTH_ENDPOINT_OVERRIDES"] = False
    page = owner_client.get("/connections/new/google_sheets").get_data(as_text=True)
    assert "config_token_url" not in page and "config_base_url" in page

    start = owner_client.post("/connections/new/google_sheets", data=form_for(configured))

    assert start.headers["Location"].startswith("https://accounts.google.com/o/oauth2/v2/auth?")
