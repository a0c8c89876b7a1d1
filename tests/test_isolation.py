"""Account isolation: another account's object is always a 404."""

from __future__ import annotations

import pytest

from models import Role

# Each endpoint that takes an object id, with the method to call and the factory name
# that creates such an object in a foreign account. A new id-taking route must be added.
ID_ENDPOINTS = {
    "users.update_role": ("POST", "user", {"role": "viewer"}),
    "users.toggle_active": ("POST", "user", {}),
}


@pytest.fixture
def foreign_objects(make_user, make_account):
    """Create one object of each kind in another account."""
    other = make_account("Other company")
    return {"user": make_user(Role.EDITOR, account=other)}


def id_rules(app):
    """List the URL rules whose arguments include an integer id."""
    return [rule for rule in app.url_map.iter_rules()
            if any(name.endswith("_id") for name in rule.arguments)]


def test_every_id_endpoint_is_covered(app):
    assert {rule.endpoint for rule in id_rules(app)} <= set(ID_ENDPOINTS)


@pytest.mark.parametrize("endpoint", sorted(ID_ENDPOINTS))
def test_foreign_id_is_not_found(app, owner_client, foreign_objects, endpoint):
    method, kind, data = ID_ENDPOINTS[endpoint]
    target = foreign_objects[kind]
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    (arg,) = [name for name in rule.arguments if name.endswith("_id")]
    with app.test_request_context():
        from flask import url_for

        url = url_for(endpoint, **{arg: target.id})
    response = owner_client.open(url, method=method, data=data) if method == "GET" else (
        owner_client.post(url, data=data))
    assert response.status_code == 404
    before = (target.role, target.active)
    from models import db

    db.session.refresh(target)
    assert (target.role, target.active) == before


def test_unknown_id_is_not_found(owner_client):
    assert owner_client.post("/users/999999/active").status_code == 404
