"""First-start setup, login, logout, sessions."""

from __future__ import annotations

from models import Account, Role, User, db
from tests.conftest import PASSWORD, log_in


def test_fresh_install_sends_every_page_to_setup(client):
    response = client.get("/connections/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/setup")


def test_setup_creates_account_and_owner_and_logs_in(client):
    response = client.post("/setup", data={
        "account_name": "Sales office", "email": "Boss@Example.com ",
        "password": PASSWORD, "confirm": PASSWORD, "timezone": "Europe/Moscow",
        "language": "ru",
    })
    assert response.status_code == 302
    user = db.session.scalar(db.select(User))
    assert (user.email, user.role, user.account.name) == ("boss@example.com", "owner",
                                                           "Sales office")
    assert user.account.timezone == "Europe/Moscow"
    assert client.get("/").status_code == 200


def test_setup_is_closed_once_a_user_exists(client, make_user):
    make_user()
    response = client.post("/setup", data={"account_name": "X", "email": "x@example.com",
                                           "password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")
    assert db.session.scalar(db.select(db.func.count(Account.id))) == 1


def test_setup_refuses_weak_and_mismatched_passwords(client):
    weak = client.post("/setup", data={"account_name": "A", "email": "a@example.com",
                                       "password": "12345678", "confirm": "12345678",
                                       "timezone": "UTC", "language": "en"})
    assert weak.status_code == 200
    assert "Mix letters with digits or symbols." in weak.get_data(as_text=True)
    short = client.post("/setup", data={"account_name": "A", "email": "a@example.com",
                                        "password": "ab1", "confirm": "ab2",
                                        "timezone": "UTC", "language": "en"})
    page = short.get_data(as_text=True)
    assert "Use at least 8 characters." in page and "Passwords differ." in page
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0


def test_login_with_wrong_password_or_unknown_email_says_so(client, make_user):
    user = make_user()
    for email, password in ((user.email, "wrong-pass-1"), ("nobody@example.com", PASSWORD)):
        response = client.post("/login", data={"email": email, "password": password})
        assert response.status_code == 200
        assert "Wrong email or password." in response.get_data(as_text=True)


def test_login_ignores_email_case_and_redirects_to_local_next_only(client, make_user):
    user = make_user(email="mixed@example.com")
    response = client.post("/login?next=//evil.example/x",
                           data={"email": "MIXED@example.com", "password": PASSWORD})
    assert response.headers["Location"] == "/"
    client.post("/logout")
    response = client.post("/login?next=/journal/",
                           data={"email": user.email, "password": PASSWORD})
    assert response.headers["Location"] == "/journal/"


def test_deactivated_user_cannot_log_in(client, make_user):
    user = make_user(active=False)
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert "This user has been deactivated." in response.get_data(as_text=True)


def test_session_cookie_is_httponly_and_lax(client, make_user):
    response = log_in(client, make_user())
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_remember_me_sets_a_remember_cookie(client, make_user):
    user = make_user()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD,
                                           "remember": "y"})
    cookies = response.headers.getlist("Set-Cookie")
    assert any(c.startswith("remember_token=") and "HttpOnly" in c for c in cookies)


def test_logout_ends_the_session(owner_client):
    assert owner_client.get("/").status_code == 200
    assert owner_client.post("/logout").status_code == 302
    assert owner_client.get("/").headers["Location"].startswith("/login")


def test_expired_session_goes_to_login_and_htmx_gets_redirect_header(owner_client):
    owner_client.user.set_password("another-pass-7")  # invalidates existing sessions
    db.session.commit()
    page = owner_client.get("/journal/")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    fragment = owner_client.get("/journal/", headers={"HX-Request": "true"})
    assert fragment.status_code == 401
    assert fragment.headers["HX-Redirect"].startswith("/login")


def test_change_password_requires_current_and_keeps_this_session(owner_client):
    bad = owner_client.post("/account/password", data={
        "current": "not-it-123", "password": "new-pass-99", "confirm": "new-pass-99"})
    assert bad.status_code == 422
    assert "The current password is wrong." in bad.get_data(as_text=True)
    good = owner_client.post("/account/password", data={
        "current": PASSWORD, "password": "new-pass-99", "confirm": "new-pass-99"})
    assert good.status_code == 302
    assert owner_client.get("/").status_code == 200
    db.session.refresh(owner_client.user)
    assert owner_client.user.check_password("new-pass-99")


def test_language_follows_user_then_browser(app, make_user):
    user = make_user(Role.EDITOR)
    client = app.test_client()
    login_page = client.get("/login", headers={"Accept-Language": "ru-RU,ru;q=0.9"})
    assert "Войти" in login_page.get_data(as_text=True)
    log_in(client, user)
    client.post("/account/preferences", data={"language": "ru"})
    page = client.get("/", headers={"Accept-Language": "en"})
    assert "Связки" in page.get_data(as_text=True)
