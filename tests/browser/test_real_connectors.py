"""A person adds real connectors in the browser; Test and Refresh run in real rq workers.

The page is served from the integration `live_app` (wired to a private redis-server), and
`rq worker` processes run the jobs against the same database, calling local fakes of
HelpCrunch, Telegram and Google.
"""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import select

from models import Bundle, Connection, JournalEvent, Role, db
from tests.browser.conftest import log_in, screenshot
from tests.fakes.google import FakeGoogle
from tests.fakes.helpcrunch import FakeHelpCrunch
from tests.fakes.telegram import FakeTelegram
from tests.integration import conftest as integration

pytestmark = pytest.mark.browser

# The integration fixtures: a private redis-server, the app wired to it, real workers.
redis_server = integration.redis_server
live_app = integration.live_app
start_worker = integration.start_worker

# Jobs run in separate worker processes that first build the app: wait generously.
JOB_MS = 45_000


@pytest.fixture
def site(live_app, live_server) -> str:
    """Return the address of the live server, which serves the Redis-wired live_app."""
    return live_server



def open_service_form(page, service: str) -> None:
    """Go from the connections list to a service's form, as a person would."""
    page.click("#main-nav >> text=Connections")
    page.get_by_role("link", name="Add connection").first.click()
    page.locator(".service-card", has_text=service).click()
    expect(page.get_by_role("heading", name=f"Add {service} connection")).to_be_visible()


def connection_id_of(page) -> int:
    """Return the id of the connection whose page is open."""
    return int(re.search(r"/connections/(\d+)", page.url).group(1))


def stored(connection_id: int) -> Connection:
    """Return the connection as the database holds it now."""
    db.session.expire_all()
    return db.session.get(Connection, connection_id)


def finished_state(page):
    """Return the state panel's job result once the worker is done."""
    done = page.locator("#connection-state .job-state[data-state=done]")
    expect(done).to_be_visible(timeout=JOB_MS)
    return done


def test_helpcrunch_test_refresh_and_wrong_key(site, page, make_user, start_worker):
    start_worker()
    with FakeHelpCrunch() as fake:
        fake.add_customer(name="Ann", email="ann@example.com", lastSeen=200,
                          customData={"plan": "gold", "city": "Riga"})
        fake.add_customer(name="Bob", email="bob@example.com", lastSeen=100,
                          customData={"plan": "free"})
        log_in(page, site, make_user(Role.OWNER))
        open_service_form(page, "HelpCrunch")
        page.fill("#name", "Support desk")
        page.fill("#auth_api_key", fake.api_key)
        page.locator("summary", has_text="Advanced").click()
        page.fill("#config_base_url", fake.base_url)
        screenshot(page, "real-helpcrunch-form")
        page.get_by_role("button", name="Add connection").click()

        expect(page.get_by_role("heading", name="Support desk")).to_be_visible()
        state = page.locator("#connection-state")
        expect(finished_state(page)).to_contain_text(
            "Test passed. Connected: HelpCrunch account with 2 contacts")
        expect(page.locator("#connection-title")).to_contain_text("active")
        screenshot(page, "real-helpcrunch-tested")

        page.locator("[data-action=refresh]").click()
        expect(state).to_contain_text("Reading lists and fields")
        expect(finished_state(page)).to_contain_text("Refreshed.")
        expect(state.locator(".list-inline-item")).to_have_text(["Custom fields: 2"])
        screenshot(page, "real-helpcrunch-refreshed")
        connection_id = connection_id_of(page)
        assert stored(connection_id).service_metadata == {"custom_fields": [
            {"value": "city", "label": "city"}, {"value": "plan", "label": "plan"}]}

        page.get_by_role("link", name="Edit settings").click()
        expect(page.locator("#auth_api_key")).to_have_value("")
        page.fill("#auth_api_key", "hc-wrong-key")
        page.get_by_role("button", name="Save").click()
        expect(finished_state(page)).to_contain_text(
            "Test failed: HelpCrunch rejected the API key")
        expect(state).to_contain_text("(HelpCrunch said: Invalid API key)")
        expect(page.locator("#connection-title .badge", has_text="inactive")).to_be_visible()
        screenshot(page, "real-helpcrunch-wrong-key")

        wrong = [r for r in fake.requests if r.headers.get("authorization") != "Bearer "
                 + fake.api_key]
        assert [r.headers["authorization"] for r in wrong] == ["Bearer hc-wrong-key"]
    connection = stored(connection_id)
    assert connection.status == "inactive" and connection.last_test_ok is False
    assert "Invalid API key" in connection.status_reason


def test_telegram_bot_test_and_chats(site, page, make_user, start_worker):
    start_worker()
    with FakeTelegram() as fake:
        fake.add_chat(481516234, first_name="Ivan", last_name="Petrov", username="ivanp")
        fake.user_writes(481516234, "/start")
        log_in(page, site, make_user(Role.OWNER))
        open_service_form(page, "Telegram")
        page.fill("#auth_bot_token", fake.token)
        page.locator("summary", has_text="Advanced").click()
        page.fill("#config_base_url", fake.url)
        page.get_by_role("button", name="Add connection").click()

        expect(page.get_by_role("heading", name="Telegram 1")).to_be_visible()
        expect(finished_state(page)).to_contain_text(
            "Test passed. Connected: @shop_notify_bot")
        page.locator("[data-action=refresh]").click()
        expect(page.locator("#connection-state")).to_contain_text("Reading lists and fields")
        expect(finished_state(page)).to_contain_text("Refreshed.")
        expect(page.locator("#connection-state .list-inline-item")).to_have_text(["Chats: 1"])
        screenshot(page, "real-telegram-refreshed")

        (chat,) = stored(connection_id_of(page)).service_metadata["chats"]
        assert chat["id"] == 481516234 and "Ivan Petrov" in str(chat)
        assert {r.path.rsplit("/", 1)[1] for r in fake.requests} == {"getMe", "getUpdates"}


def test_google_sheets_oauth_flow(site, page, make_user, start_worker, live_app, monkeypatch):
    import connectors.google_sheets  # noqa: F401 - registers the connector

    # Connections may point their OAuth addresses at the fake: in this app and its workers.
    live_app.config["OAUTH_ENDPOINT_OVERRIDES"] = True
    monkeypatch.setenv("SVYAZKA_OAUTH_ENDPOINT_OVERRIDES", "true")
    start_worker()
    with FakeGoogle() as google:
        log_in(page, site, make_user(Role.ADMIN))
        page.click("#user-menu")
        page.get_by_role("link", name="Settings").click()
        card = page.locator("#oauth-google_sheets")
        expect(card).to_contain_text("not configured")
        card.locator("#google_sheets-client_id").fill(google.client_id)
        card.locator("#google_sheets-client_secret").fill(google.client_secret)
        card.get_by_role("button", name="Save").click()
        expect(page.locator(".toast").first).to_contain_text(
            "OAuth client of Google Sheets saved")
        expect(card.locator(".badge")).to_have_text("configured")
        screenshot(page, "real-google-settings")

        open_service_form(page, "Google Sheets")
        page.fill("#name", "Sales sheet")
        page.locator("summary", has_text="Advanced").click()
        page.fill("#config_base_url", google.base_url)
        page.fill("#config_token_url", google.token_url)
        page.fill("#config_authorize_url", google.authorize_url)
        screenshot(page, "real-google-form")
        page.get_by_role("button", name="Continue to Google Sheets").click()

        # The fake consent page approves at once and sends the browser back here.
        expect(page.locator(".toast").first).to_contain_text("Connection Sales sheet added.")
        expect(page.get_by_role("heading", name="Sales sheet")).to_be_visible()
        assert page.url.startswith(site + "/connections/")
        expect(finished_state(page)).to_contain_text("Test passed. Connected: Google account")
        screenshot(page, "real-google-tested")

        grants = [r.body.decode() for r in google.token_requests()]
        assert len(grants) == 2
        assert "grant_type=authorization_code" in grants[0]
        assert "grant_type=refresh_token" in grants[1]  # the worker's test renewed the token
        connection = stored(connection_id_of(page))
        assert connection.service == "google_sheets" and connection.is_active
        assert connection.read_secrets()["refresh_token"].startswith("1//0fake-")


def test_webhook_sample_arrives(site, page, make_user, start_worker):
    start_worker()
    log_in(page, site, make_user(Role.OWNER))
    open_service_form(page, "Webhook")
    page.get_by_role("button", name="Add connection").click()
    address = page.locator("#webhook-url").input_value()
    assert address.startswith(site + "/hooks/")
    expect(page.locator("#connection-webhook [data-copy]")).to_be_visible()

    answer = requests.post(address, json={"name": "Ivan", "phone": "+79991234567"}, timeout=5)

    assert answer.status_code == 200
    expect(page.locator("#sample-fields")).to_contain_text("+79991234567", timeout=10_000)


def test_delete_connection_used_by_a_bundle(site, page, make_user, make_bundle):
    from connectors.helpcrunch import HelpCrunch
    from models.connections import create_connection

    user = make_user(Role.OWNER)
    connection = create_connection(user.account_id, HelpCrunch, "Support desk",
                                   {"base_url": "http://127.0.0.1:9/v1"}, {"api_key": "hc-key"})
    bundle = make_bundle({"format": 1, "source": {"kind": "webhook"}, "blocks": [{
        "id": "update", "kind": "receiver", "title": "Update contact", "service": "helpcrunch",
        "connection": connection.id, "action": "update_contact",
        "params": {"search_value": "{{source.email}}", "name": "{{source.name}}"}}]},
        account=user.account, name="Leads to HelpCrunch")
    connection_id, bundle_id, account_id = connection.id, bundle.id, user.account_id
    log_in(page, site, user)
    page.goto(site + f"/connections/{connection_id}")
    expect(page.locator("#connection-bundles")).to_contain_text("Leads to HelpCrunch")
    page.get_by_role("link", name="Delete").click()

    expect(page.locator("#affected-bundles")).to_contain_text("Leads to HelpCrunch (Running)")
    screenshot(page, "real-delete-confirm")
    page.get_by_role("button", name="Delete for good").click()

    expect(page.locator(".toast").first).to_contain_text(
        "Connection Support desk deleted. Bundles switched off: 1.")
    db.session.expire_all()
    assert db.session.get(Bundle, bundle_id).status == "paused"
    assert db.session.get(Connection, connection_id) is None
    events = db.session.scalars(select(JournalEvent).where(
        JournalEvent.account_id == account_id)).all()
    kinds = {event.kind: event for event in events}
    assert kinds["bundle_paused"].bundle_id == bundle_id
    assert "connection 'Support desk' was deleted" in kinds["bundle_paused"].message
    assert kinds["connection_deleted"].data["bundles"] == [bundle_id]
    page.goto(site + "/journal/")
    expect(page.locator("body")).to_contain_text("Connection 'Support desk' deleted")
    screenshot(page, "real-delete-journal")
