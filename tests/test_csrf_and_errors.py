"""CSRF on every form and HTMX request; clear error pages, never a 500."""

from __future__ import annotations

from models import User, db
from tests.conftest import PASSWORD


def test_form_without_csrf_token_is_refused_with_a_message(client, make_user):
    user = make_user()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD},
                           csrf=False)
    assert response.status_code == 400
    assert "Reload the page and try again." in response.get_data(as_text=True)


def test_htmx_request_without_token_gets_fragment(owner_client):
    response = owner_client.post("/users/", headers={"HX-Request": "true"}, csrf=False,
                                 data={"email": "x@example.com"})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert 'data-status="400"' in body and "<html" not in body
    assert User.by_email("x@example.com") is None


def test_htmx_request_with_header_token_passes(owner_client):
    token = owner_client.fetch_csrf_token()
    response = owner_client.post("/account/preferences", data={"language": "en"},
                                 headers={"X-CSRFToken": token, "HX-Request": "true"},
                                 csrf=False)
    assert response.status_code == 302


def test_base_template_sets_the_htmx_csrf_header(owner_client):
    page = owner_client.get("/").get_data(as_text=True)
    assert "hx-headers='{\"X-CSRFToken\": \"" in page


def test_unknown_page_is_a_friendly_404(owner_client):
    response = owner_client.get("/no/such/page")
    assert response.status_code == 404
    assert "does not exist" in response.get_data(as_text=True)


def test_json_clients_get_json_errors(owner_client):
    response = owner_client.get("/no/such", headers={"Accept": "application/json"})
    assert response.status_code == 404 and response.json["ok"] is False


def test_too_large_body_is_413(app, owner_client):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = owner_client.post("/account/preferences", data={"language": "x" * 5000},
                                 csrf=False)
    assert response.status_code == 413


def test_unexpected_error_is_a_500_page_without_traceback(app, owner_client):
    def boom():
        raise RuntimeError("secret internals")

    app.view_functions["journal.index"] = boom
    response = owner_client.get("/journal/")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "secret internals" not in body and "Traceback" not in body


def test_security_headers_and_vary(owner_client):
    response = owner_client.get("/")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "HX-Request" in response.headers["Vary"]
    assert db.session is not None
