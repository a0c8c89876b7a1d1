"""OAuth 2.0 plumbing: consent URL, PKCE, code exchange and refresh against a fake Google."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from connectors.errors import AuthError, ConnectorError, RetryableError
from connectors.http import HttpClient
from connectors.oauth2 import (
    GOOGLE_AUTHORIZE_PARAMS,
    OAuthClient,
    TokenSet,
    authorization_url,
    exchange_code,
    new_pkce_pair,
    refresh,
)
from tests.fakes.google import SPREADSHEETS_SCOPE, TOKEN_PATH, FakeGoogle

REDIRECT_URI = "http://127.0.0.1:5000/connections/oauth/callback"
NOW = 1_750_000_000.0


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    """Run a fake Google for one test."""
    with FakeGoogle() as running:
        yield running


def google_client(fake: FakeGoogle, **changes) -> OAuthClient:
    """Return the Google OAuth client pointed at the fake."""
    settings = {
        "authorize_url": fake.authorize_url,
        "token_url": fake.token_url,
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "scopes": (SPREADSHEETS_SCOPE,),
        "extra_authorize_params": GOOGLE_AUTHORIZE_PARAMS,
        "name": "Google",
        **changes,
    }
    return OAuthClient(**settings)


def approve(url: str) -> dict[str, str]:
    """Open the consent page and return the query of the redirect back to us."""
    answer = requests.get(url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(f"{REDIRECT_URI}?")
    return dict(parse_qsl(urlsplit(location).query))


def sent_form(fake: FakeGoogle) -> list[tuple[str, str]]:
    """Return the form of the only token request, in the order sent."""
    (sent,) = fake.token_requests()
    assert sent.method == "POST"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.headers["accept"] == "application/json"
    return parse_qsl(sent.body.decode(), keep_blank_values=True)


def test_pkce_pair_is_an_s256_pair() -> None:
    verifier, challenge = new_pkce_pair()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,128}", verifier)
    digest = hashlib.sha256(verifier.encode()).digest()
    assert challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert new_pkce_pair()[0] != verifier


def test_authorization_url_carries_google_parameters_in_order() -> None:
    client = OAuthClient(
        "https://accounts.google.com/o/oauth2/v2/auth",
        "https://oauth2.googleapis.com/token",
        "id-1.apps.googleusercontent.com",
        "secret",
        ("https://www.googleapis.com/auth/spreadsheets", "openid"),
        GOOGLE_AUTHORIZE_PARAMS,
    )
    url = authorization_url(client, REDIRECT_URI, "st/1", code_challenge="abc-_")
    assert url == (
        "https://accounts.google.com/o/oauth2/v2/auth?client_id=id-1.apps.googleusercontent.com"
        "&redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fconnections%2Foauth%2Fcallback"
        "&response_type=code&scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fspreadsheets+openid"
        "&state=st%2F1&access_type=offline&prompt=consent&include_granted_scopes=true"
        "&code_challenge=abc-_&code_challenge_method=S256"
    )


def test_authorization_url_keeps_a_configured_query_and_omits_pkce_without_challenge() -> None:
    client = OAuthClient("https://id.example/auth?tenant=7", "https://id.example/token", "c", "s")
    url = authorization_url(client, "https://app.example/cb", "xyz")
    assert url == (
        "https://id.example/auth?tenant=7&client_id=c&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
        "&response_type=code&scope=&state=xyz"
    )


def test_token_set_round_trips_and_reads_loose_values() -> None:
    tokens = TokenSet("ya29.a", "1//r", 1234.5, SPREADSHEETS_SCOPE, "Bearer")
    assert TokenSet.from_dict(tokens.to_dict()) == tokens
    assert tokens.to_dict() == {
        "access_token": "ya29.a",
        "refresh_token": "1//r",
        "expires_at": 1234.5,
        "scope": SPREADSHEETS_SCOPE,
        "token_type": "Bearer",
    }
    loose = TokenSet.from_dict({"access_token": "a", "expires_at": "99", "refresh_token": None})
    assert loose == TokenSet("a", "", 99.0, "", "Bearer")
    assert TokenSet.from_dict({"access_token": "a", "expires_at": "soon"}).expires_at is None


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        (TokenSet("a", expires_at=NOW + 121), False),
        (TokenSet("a", expires_at=NOW + 120), True),
        (TokenSet("a", expires_at=NOW - 5), True),
        (TokenSet("a", expires_at=None), False),
        (TokenSet("", expires_at=NOW + 3600), True),
    ],
)
def test_expires_soon_uses_a_two_minute_margin(tokens: TokenSet, expected: bool) -> None:
    assert tokens.expires_soon(NOW) is expected


def test_full_flow_consent_then_code_exchange_with_pkce(fake: FakeGoogle, client) -> None:
    google = google_client(fake)
    verifier, challenge = new_pkce_pair()
    back = approve(authorization_url(google, REDIRECT_URI, "state-42", challenge))
    assert back["state"] == "state-42"
    assert back["scope"] == SPREADSHEETS_SCOPE

    tokens = exchange_code(google, client, back["code"], REDIRECT_URI, verifier, now=NOW)

    assert sent_form(fake) == [
        ("grant_type", "authorization_code"),
        ("code", back["code"]),
        ("client_id", fake.client_id),
        ("client_secret", fake.client_secret),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier),
    ]
    assert tokens.access_token in fake.access_tokens
    assert tokens.refresh_token in fake.grants
    assert tokens.expires_at == NOW + 3599
    assert tokens.scope == SPREADSHEETS_SCOPE
    assert tokens.token_type == "Bearer"


def test_a_wrong_code_verifier_is_refused_as_an_auth_error(fake: FakeGoogle, client) -> None:
    google = google_client(fake)
    _, challenge = new_pkce_pair()
    back = approve(authorization_url(google, REDIRECT_URI, "s", challenge))
    with pytest.raises(AuthError) as caught:
        exchange_code(google, client, back["code"], REDIRECT_URI, "not-the-verifier")
    assert str(caught.value) == (
        "Google refused the authorization code: connect the account again (Invalid code verifier.)"
    )
    assert caught.value.status == 400


def test_a_code_is_single_use(fake: FakeGoogle, client) -> None:
    google = google_client(fake)
    back = approve(authorization_url(google, REDIRECT_URI, "s"))
    exchange_code(google, client, back["code"], REDIRECT_URI)
    with pytest.raises(AuthError, match=r"\(Malformed auth code\.\)"):
        exchange_code(google, client, back["code"], REDIRECT_URI)


def test_denied_consent_redirects_back_with_an_error(fake: FakeGoogle) -> None:
    fake.deny_consent = True
    back = approve(authorization_url(google_client(fake), REDIRECT_URI, "s-1"))
    assert back == {"error": "access_denied", "state": "s-1"}


def test_refresh_keeps_the_refresh_token_google_does_not_resend(fake: FakeGoogle, client) -> None:
    issued = fake.issue_tokens()
    tokens = refresh(google_client(fake), client, issued["refresh_token"], now=NOW)
    assert sent_form(fake) == [
        ("grant_type", "refresh_token"),
        ("refresh_token", issued["refresh_token"]),
        ("client_id", fake.client_id),
        ("client_secret", fake.client_secret),
    ]
    assert tokens.refresh_token == issued["refresh_token"]
    assert tokens.access_token not in ("", issued["access_token"])
    assert tokens.expires_at == NOW + 3599


def test_a_revoked_refresh_token_is_an_auth_error(fake: FakeGoogle, client) -> None:
    issued = fake.issue_tokens()
    fake.revoke(issued["refresh_token"])
    with pytest.raises(AuthError) as caught:
        refresh(google_client(fake), client, issued["refresh_token"])
    assert str(caught.value) == (
        "Google refused to renew access: reconnect the account (Token has been expired or revoked.)"
    )
    assert caught.value.service_message == "Token has been expired or revoked."


def test_a_wrong_client_secret_is_not_blamed_on_the_account(fake: FakeGoogle, client) -> None:
    issued = fake.issue_tokens()
    google = google_client(fake, client_secret="wrong")
    with pytest.raises(ConnectorError) as caught:
        refresh(google, client, issued["refresh_token"])
    assert not isinstance(caught.value, AuthError)
    assert str(caught.value) == (
        "Google rejected the OAuth client: check its client id and secret in the admin "
        "settings (Unauthorized)"
    )


def test_other_oauth_errors_carry_the_service_description(fake: FakeGoogle, client) -> None:
    fake.inject(
        400,
        {"error": "invalid_scope", "error_description": "Some requested scopes were invalid."},
        path_prefix=TOKEN_PATH,
    )
    with pytest.raises(ConnectorError) as caught:
        refresh(google_client(fake), client, "1//r")
    assert type(caught.value) is ConnectorError
    assert str(caught.value) == (
        "Google refused the token request (400): Some requested scopes were invalid."
    )


@pytest.mark.parametrize(("status", "retry_after"), [(503, "7"), (429, "30"), (500, None)])
def test_token_endpoint_overload_is_retryable(
    fake: FakeGoogle, client, status: int, retry_after: str | None
) -> None:
    headers = {"Retry-After": retry_after} if retry_after else {}
    fake.inject(status, "<html>busy</html>", headers=headers, path_prefix=TOKEN_PATH)
    with pytest.raises(RetryableError) as caught:
        refresh(google_client(fake), client, "1//r")
    assert str(caught.value) == f"Google could not issue a token right now ({status})"
    assert caught.value.retry_after == (float(retry_after) if retry_after else None)


def test_a_token_endpoint_timeout_is_retryable(fake: FakeGoogle) -> None:
    fake.inject(200, {"access_token": "late"}, delay=2, path_prefix=TOKEN_PATH)
    with (
        HttpClient(allow_private=True, read_timeout=0.2) as slow,
        pytest.raises(RetryableError, match=r"Timed out after 0\.2 s"),
    ):
        refresh(google_client(fake), slow, "1//r")


def test_an_html_page_instead_of_tokens_is_explained(fake: FakeGoogle, client) -> None:
    fake.inject(
        200,
        "<!DOCTYPE html><title>Sign in</title>",
        headers={"Content-Type": "text/html"},
        path_prefix=TOKEN_PATH,
    )
    with pytest.raises(ConnectorError) as caught:
        refresh(google_client(fake), client, "1//r")
    assert str(caught.value) == (
        "Google token endpoint answered with HTML instead of JSON (status 200)"
    )


def test_a_token_answer_without_access_token_is_refused(fake: FakeGoogle, client) -> None:
    fake.inject(200, {"token_type": "Bearer"}, path_prefix=TOKEN_PATH)
    with pytest.raises(ConnectorError, match="answered the token request without an access token"):
        refresh(google_client(fake), client, "1//r")


def test_the_fake_refuses_json_bodies_and_unknown_grants(fake: FakeGoogle) -> None:
    as_json = requests.post(fake.token_url, json={"grant_type": "refresh_token"}, timeout=5)
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"
    unknown = requests.post(
        fake.token_url,
        data={
            "grant_type": "password",
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
        },
        timeout=5,
    )
    assert (unknown.status_code, unknown.json()) == (
        400,
        {"error": "unsupported_grant_type", "error_description": "Invalid grant_type: password"},
    )
