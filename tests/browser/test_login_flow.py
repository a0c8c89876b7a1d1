"""A person sets up svyazka, logs out and in, and sees the navigation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_setup_then_login_shows_navigation(live_server, page):
    page.goto(live_server + "/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    page.fill("#account_name", "Sales office")
    page.fill("#email", "owner@example.com")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="My bundles", exact=True)).to_be_visible()
    expect(page.locator(".toast").first).to_contain_text("Your workspace is ready")

    page.click("#user-menu")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.fill("#email", "owner@example.com")
    page.fill("#password", "wrong-password-1")
    page.click("button[type=submit]")
    expect(page.locator(".invalid-feedback")).to_contain_text("Wrong email or password.")

    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    nav = page.locator("#main-nav")
    for label in ("Bundles", "Connections", "Journal", "Templates"):
        expect(nav.get_by_role("link", name=label)).to_be_visible()
    screenshot(page, "logged-in-bundles")
    page.click("#main-nav >> text=Connections")
    expect(page.get_by_role("heading", name="Connections", exact=True)).to_be_visible()
    expect(page.locator(".empty-state")).to_contain_text("No connections yet")


def test_htmx_search_updates_rows_and_url(live_server, page, make_user):
    user = make_user()
    page.goto(live_server + "/login")
    page.fill("#email", user.email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_function("() => window.htmx !== undefined")  # scripts are deferred
    page.fill("input[name=q]", "nothing-matches")
    expect(page.locator("#bundle-rows")).to_contain_text("Nothing found", timeout=15_000)
    expect(page).to_have_url(re.compile(r"q=nothing-matches"))
