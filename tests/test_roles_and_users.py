"""Roles: who may look, change, and manage users."""

from __future__ import annotations

import pytest

from models import Role, User, db
from tests.conftest import PASSWORD


def test_viewer_can_look_but_not_change(login_as, make_user):
    viewer = login_as(Role.VIEWER)
    other = make_user(Role.EDITOR, account=viewer.user.account)
    for path in ("/", "/connections/", "/journal/", "/templates/", "/account/"):
        assert viewer.get(path).status_code == 200, path
    assert viewer.get("/users/").status_code == 403
    assert viewer.post(f"/users/{other.id}/active").status_code == 403
    assert viewer.post("/account/preferences", data={"language": "en"}).status_code == 302


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_only_owners_and_admins_manage_users(login_as, role):
    client = login_as(role)
    assert client.get("/users/").status_code == 403
    response = client.post("/users/", data={"email": "n@example.com", "role": "editor",
                                            "password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 403
    assert User.by_email("n@example.com") is None


def test_admin_adds_user_who_can_log_in(login_as, app):
    admin = login_as(Role.ADMIN)
    response = admin.post("/users/", data={"email": "new@example.com", "role": "editor",
                                           "password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 302
    created = User.by_email("new@example.com")
    assert created.account_id == admin.user.account_id and created.role == "editor"


def test_duplicate_email_is_refused_with_a_message(login_as, make_user):
    admin = login_as(Role.ADMIN)
    taken = make_user(Role.VIEWER)  # in another account: emails are global
    response = admin.post("/users/", data={"email": taken.email.upper(), "role": "viewer",
                                           "password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)


def test_admin_cannot_grant_owner_but_owner_can(login_as, make_user):
    admin = login_as(Role.ADMIN)
    target = make_user(Role.EDITOR, account=admin.user.account)
    admin.post(f"/users/{target.id}/role", data={"role": "owner"})
    db.session.refresh(target)
    assert target.role == "editor"
    owner = login_as(Role.OWNER, account=admin.user.account)
    owner.post(f"/users/{target.id}/role", data={"role": "owner"})
    db.session.refresh(target)
    assert target.role == "owner"


def test_nobody_changes_their_own_role(owner_client):
    me = owner_client.user
    response = owner_client.post(f"/users/{me.id}/role", data={"role": "viewer"},
                                 follow_redirects=True)
    assert "You cannot change your own role" in response.get_data(as_text=True)
    db.session.refresh(me)
    assert me.role == "owner"


def test_deactivating_a_user_ends_their_session(app, owner_client, make_user):
    from tests.conftest import log_in

    target = make_user(Role.EDITOR, account=owner_client.user.account)
    their_client = app.test_client()
    log_in(their_client, target)
    assert their_client.get("/").status_code == 200
    owner_client.post(f"/users/{target.id}/active")
    assert their_client.get("/").status_code == 302
    owner_client.post(f"/users/{target.id}/active")
    db.session.refresh(target)
    assert target.active is True


def test_unknown_role_value_is_refused(owner_client, make_user):
    target = make_user(Role.EDITOR, account=owner_client.user.account)
    response = owner_client.post(f"/users/{target.id}/role", data={"role": "emperor"},
                                 follow_redirects=True)
    assert "Choose a valid role." in response.get_data(as_text=True)
