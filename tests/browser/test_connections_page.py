"""A person adds a webhook connection, copies its address and sees a sample's fields arrive."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect
from rq.job import JobStatus

from models import Role
from tests.browser.conftest import log_in, screenshot
from tests.fakes import rq_queue
from tests.fakes.http_sink import HttpSink
from tests.test_connections import SinkService, receiver_definition

pytestmark = pytest.mark.browser



@pytest.fixture
def inline_jobs(monkeypatch) -> rq_queue.FakeQueue:
    """Run connection jobs at once inside the request, as a worker would later."""
    queue = rq_queue.install(monkeypatch)
    original = queue.enqueue

    def run_now(function: str, *args, **options):
        from workers import jobs

        job = original(function, *args, **options)
        job.result = getattr(jobs, function.rsplit(".", 1)[1])(*args)
        job.status = JobStatus.FINISHED
        return job

    monkeypatch.setattr(queue, "enqueue", run_now)
    return queue


def test_webhook_connection_shows_address_and_sample_fields(live_server, page, make_user):
    log_in(page, live_server, make_user())
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    page.click("#main-nav >> text=Connections")
    expect(page.locator(".empty-state")).to_contain_text("No connections yet")
    page.get_by_role("link", name="Add connection").first.click()
    screenshot(page, "connections-new-grid")
    page.locator(".service-card", has_text="Webhook").click()
    expect(page.locator("#name")).to_have_value("Webhook 1")
    page.fill("#name", "Tilda leads")
    page.get_by_role("button", name="Add connection").click()

    expect(page.get_by_role("heading", name="Tilda leads")).to_be_visible()
    address = page.locator("#webhook-url").input_value()
    assert re.fullmatch(re.escape(live_server) + r"/hooks/[\w-]{32}", address)
    copy = page.locator("#connection-webhook [data-copy]")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == address
    expect(page.locator("#connection-sample")).to_contain_text("Waiting for a test request")
    screenshot(page, "connections-webhook-waiting")

    answer = requests.post(address, data={"name": "Ivan", "email": "ivan@example.com",
                                          "formname": "Lead form"}, timeout=5)
    assert answer.status_code == 200

    fields = page.locator("#sample-fields")
    expect(fields).to_contain_text("email", timeout=10_000)
    expect(fields).to_contain_text("ivan@example.com")
    expect(page.locator("#connection-sample")).not_to_have_attribute("hx-trigger", "every 2s")
    screenshot(page, "connections-webhook-sample")


def test_api_key_connection_test_rename_and_delete(app, live_server, page, make_user,
                                                  make_bundle, inline_jobs):
    from connectors.registry import REGISTRY

    REGISTRY[SinkService.key] = SinkService
    app.config["ALLOW_PRIVATE_NETWORK"] = True
    user = make_user(Role.OWNER)
    with HttpSink() as sink:
        sink.enqueue(body={"name": "Acme Ltd"})
        sink.enqueue(status=401, body={"message": "API key revoked"})
        log_in(page, live_server, user)
        page.goto(live_server + "/connections/new/sinksvc")
        page.fill("#auth_api_key", "sk-live-0000000001")
        page.locator("summary", has_text="Advanced").click()
        page.fill("#config_base_url", sink.url)
        screenshot(page, "connections-form-api-key")
        page.get_by_role("button", name="Add connection").click()

        state = page.locator("#connection-state")
        expect(state).to_contain_text("Test passed. Connected: Acme Ltd")
        expect(page.locator(".connection-details")).to_contain_text("•••• stored")
        screenshot(page, "connections-api-key-tested")

        page.get_by_role("link", name="Rename").click()
        page.fill("#connection-title input[name=name]", "Acme production")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", name="Acme production")).to_be_visible()

        connection_id = int(page.url.split("/connections/")[1].split("?")[0])
        make_bundle(receiver_definition(connection_id), account=user.account, name="Leads")
        page.reload()
        page.locator("[data-action=test]").click()
        expect(state).to_contain_text("Test failed: 127.0.0.1 answered 401")
        expect(state).to_contain_text("API key revoked")
        expect(page.locator("#connection-state .badge", has_text="inactive")).to_be_visible()
        expect(page.locator("#connection-title")).to_contain_text("inactive")
        expect(page.locator("#connection-bundles")).to_contain_text("Blocked")
        screenshot(page, "connections-api-key-failed")

        page.goto(live_server + "/connections/")
        expect(page.locator("#connection-rows")).to_contain_text("Acme production")
        screenshot(page, "connections-list")

        page.goto(live_server + f"/connections/{connection_id}/delete")
        expect(page.locator("#affected-bundles")).to_contain_text("Leads")
        screenshot(page, "connections-delete-confirm")
        page.get_by_role("button", name="Delete for good").click()
        expect(page.locator(".toast").first).to_contain_text("Connection Acme production deleted")
    REGISTRY.pop(SinkService.key, None)


def test_settings_page(live_server, page, make_user):
    import connectors.google_sheets  # noqa: F401 - an OAuth service to configure

    log_in(page, live_server, make_user(Role.OWNER))
    page.click("#user-menu")
    page.get_by_role("link", name="Settings").click()
    expect(page.locator("#redirect-uri")).to_have_value(
        live_server + "/connections/oauth/callback")
    screenshot(page, "connections-settings")
