"""Instance settings: OAuth clients (secret sealed, blank keeps) and the private-network switch."""

from __future__ import annotations

import pytest

from models import Role, SystemSetting, db
from models.setting import get_sealed_setting, get_setting, oauth_client_credentials
from workers.services import allow_private_network


@pytest.fixture(autouse=True)
def google_connector():
    """Make sure an OAuth connector is registered."""
    import connectors.google_sheets  # noqa: F401


def test_page_shows_redirect_address_and_oauth_services(owner_client):
    page = owner_client.get("/settings/").get_data(as_text=True)
    callback = "http://localhost/connections/oauth/callback"
    assert f'data-copy="{callback}"' in page
    assert 'id="oauth-google_sheets"' in page and "not configured" in page
    assert 'href="/settings/"' in owner_client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_only_owners_and_admins(login_as, role):
    client = login_as(role)
    assert client.get("/settings/").status_code == 403
    assert client.post("/settings/network", data={"allow_private_network": "y"}).status_code == 403
    assert get_setting("allow_private_network") is None


def test_admin_saves_an_oauth_client_and_blank_secret_keeps_it(login_as):
    admin = login_as(Role.ADMIN)
    admin.post("/settings/oauth/google_sheets", data={
        "google_sheets-client_id": "id-1.apps", "google_sheets-client_secret": "GOCSPX-abc"})

    row = db.session.get(SystemSetting, "oauth_client.google_sheets")
    assert b"GOCSPX-abc" not in row.sealed
    assert oauth_client_credentials("google_sheets") == ("id-1.apps", "GOCSPX-abc")
    page = admin.get("/settings/").get_data(as_text=True)
    assert 'value="id-1.apps"' in page and "GOCSPX-abc" not in page and "configured" in page

    admin.post("/settings/oauth/google_sheets", data={
        "google_sheets-client_id": "id-2.apps", "google_sheets-client_secret": ""})

    db.session.expire_all()
    assert oauth_client_credentials("google_sheets") == ("id-2.apps", "GOCSPX-abc")
    admin.post("/settings/oauth/google_sheets", data={"google_sheets-client_id": ""})
    db.session.expire_all()
    assert oauth_client_credentials("google_sheets") is None
    assert get_sealed_setting("oauth_client.google_sheets") == {}


def test_unknown_oauth_service_is_not_found(owner_client):
    assert owner_client.post("/settings/oauth/webhook", data={}).status_code == 404


def test_private_network_switch(owner_client):
    owner_client.post("/settings/network", data={"allow_private_network": "y"})
    assert get_setting("allow_private_network") is True and allow_private_network()

    owner_client.post("/settings/network", data={})
    db.session.expire_all()
    assert get_setting("allow_private_network") is False and not allow_private_network()
