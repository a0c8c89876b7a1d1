"""Account isolation: another account's object is always a 404."""

from __future__ import annotations

import pytest

from models import Role

# Each endpoint that takes an object id, with the method to call and the factory name
# that creates such an object in a foreign account. A new id-taking route must be added.
# An optional fourth item gives the route's other URL arguments.
ID_ENDPOINTS = {
    "users.update_role": ("POST", "user", {"role": "viewer"}),
    "users.toggle_active": ("POST", "user", {}),
    "connections.show": ("GET", "connection", {}),
    "connections.edit": ("POST", "connection", {"name": "Taken over"}),
    "connections.delete": ("POST", "connection", {}),
    "connections.rename_form": ("GET", "connection", {}),
    "connections.rename": ("POST", "connection", {"name": "Taken over"}),
    "connections.title": ("GET", "connection", {}),
    "connections.test": ("POST", "connection", {}),
    "connections.refresh": ("POST", "connection", {}),
    "connections.job_status": ("GET", "connection", {}, {"job": "job-1"}),
    "connections.sample": ("GET", "connection", {}),
    "connections.reconnect": ("POST", "connection", {}),
}

# What must stay unchanged on each kind of foreign object.
SNAPSHOTS = {
    "user": lambda user: (user.role, user.active),
    "connection": lambda connection: (connection.name, connection.status, connection.config,
                                      connection.secrets_sealed),
}


@pytest.fixture
def foreign_objects(make_user, make_account):
    """Create one object of each kind in another account."""
    from models import Connection, db

    other = make_account("Other company")
    connection = Connection(account_id=other.id, service="webhook", name="Theirs",
                            webhook_token="their-token", config={"base_url": "http://x"})
    connection.write_secrets({"api_key": "their-secret"})
    db.session.add(connection)
    db.session.commit()
    return {"user": make_user(Role.EDITOR, account=other), "connection": connection}


def id_rules(app):
    """List the URL rules whose arguments include an integer id."""
    return [rule for rule in app.url_map.iter_rules()
            if any(name.endswith("_id") for name in rule.arguments)]


def test_every_id_endpoint_is_covered(app):
    assert {rule.endpoint for rule in id_rules(app)} <= set(ID_ENDPOINTS)


@pytest.mark.parametrize("endpoint", sorted(ID_ENDPOINTS))
def test_foreign_id_is_not_found(app, owner_client, foreign_objects, endpoint):
    method, kind, data, *extra = ID_ENDPOINTS[endpoint]
    target = foreign_objects[kind]
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    (arg,) = [name for name in rule.arguments if name.endswith("_id")]
    with app.test_request_context():
        from flask import url_for

        url = url_for(endpoint, **{arg: target.id}, **(extra[0] if extra else {}))
    before = SNAPSHOTS[kind](target)
    response = owner_client.open(url, method=method, data=data) if method == "GET" else (
        owner_client.post(url, data=data))
    assert response.status_code == 404
    from models import db

    db.session.refresh(target)
    assert SNAPSHOTS[kind](target) == before


def test_unknown_id_is_not_found(owner_client):
    assert owner_client.post("/users/999999/active").status_code == 404
