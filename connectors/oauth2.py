"""OAuth 2.0 authorization-code plumbing shared by connectors: URLs, PKCE, token requests."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from connectors.errors import AuthError, ConnectorError, RetryableError
from connectors.http import HttpClient
from connectors.http_response import HttpResponse
from connectors.responses import excerpt, parse_retry_after

GOOGLE_AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
# offline: Google issues a refresh token; consent: it issues one again on re-consent too.
GOOGLE_AUTHORIZE_PARAMS = {
    "access_type": "offline",
    "prompt": "consent",
    "include_granted_scopes": "true",
}
# Errors meaning the OAuth application itself (the admin's client id/secret) is refused.
CLIENT_ERRORS = ("invalid_client", "unauthorized_client")


@dataclass(frozen=True)
class OAuthClient:
    """Describe one OAuth application: its endpoints, credentials and requested scopes."""

    authorize_url: str
    token_url: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = ()
    extra_authorize_params: Mapping[str, str] = field(default_factory=dict)
    use_pkce: bool = True
    # Names the provider in messages shown to users ("Google refused to renew access").
    name: str = "The service"


@dataclass(frozen=True)
class TokenSet:
    """Hold the tokens of one connection; expires_at is a Unix time, None when unknown."""

    access_token: str
    refresh_token: str = ""
    expires_at: float | None = None
    scope: str = ""
    token_type: str = "Bearer"

    def to_dict(self) -> dict[str, Any]:
        """Return the tokens as a plain dict, ready to be sealed as connection secrets."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "scope": self.scope,
            "token_type": self.token_type,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenSet:
        """Read tokens stored by to_dict, tolerating missing keys and text numbers."""
        return cls(
            access_token=str(data.get("access_token") or ""),
            refresh_token=str(data.get("refresh_token") or ""),
            expires_at=_as_epoch(data.get("expires_at")),
            scope=str(data.get("scope") or ""),
            token_type=str(data.get("token_type") or "Bearer"),
        )

    def expires_soon(self, now: float, margin: float = 120) -> bool:
        """Tell whether the access token is gone or will expire within `margin` seconds."""
        if not self.access_token:
            return True
        # Unknown lifetime: use the token until the service answers 401.
        return self.expires_at is not None and self.expires_at <= now + margin


def new_pkce_pair() -> tuple[str, str]:
    """Return a PKCE code verifier and its S256 code challenge."""
    verifier = secrets.token_urlsafe(64)  # 86 characters; RFC 7636 allows 43 to 128
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return verifier, challenge


def authorization_url(
    client: OAuthClient, redirect_uri: str, state: str, code_challenge: str | None = None
) -> str:
    """Return the provider page address where the user approves access."""
    params = {
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(client.scopes),
        "state": state,
        **client.extra_authorize_params,
    }
    if code_challenge:
        params["code_challenge"] = code_challenge
        params["code_challenge_method"] = "S256"
    parts = urlsplit(client.authorize_url)
    # Keep any query the configured address already carries.
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    return urlunsplit(parts._replace(query=query))


def exchange_code(
    client: OAuthClient,
    http: HttpClient,
    code: str,
    redirect_uri: str,
    code_verifier: str | None = None,
    *,
    now: float | None = None,
) -> TokenSet:
    """Trade the authorization code from the redirect for tokens."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "redirect_uri": redirect_uri,
    }
    if code_verifier:
        form["code_verifier"] = code_verifier
    refused = f"{client.name} refused the authorization code: connect the account again"
    body = _token_request(client, http, form, refused=refused)
    return _token_set(client, body, kept_refresh_token="", now=now)


def refresh(
    client: OAuthClient, http: HttpClient, refresh_token: str, *, now: float | None = None
) -> TokenSet:
    """Get a new access token; keep the old refresh token when none is returned."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client.client_id,
        "client_secret": client.client_secret,
    }
    refused = f"{client.name} refused to renew access: reconnect the account"
    body = _token_request(client, http, form, refused=refused)
    return _token_set(client, body, kept_refresh_token=refresh_token, now=now)


def _token_request(
    client: OAuthClient, http: HttpClient, form: Mapping[str, str], *, refused: str
) -> dict[str, Any]:
    """POST a form to the token endpoint and return its JSON, raising typed errors."""
    # A dict passed as data is sent form-encoded, as RFC 6749 requires.
    response = http.request(
        "POST", client.token_url, data=dict(form), headers={"Accept": "application/json"}
    )
    status = response.status_code
    if status == 429 or status >= 500:
        raise RetryableError(
            f"{client.name} could not issue a token right now ({status})",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            service_message=excerpt(response.text),
            status=status,
        )
    body = _json_object(response)
    if body is None:
        kind = "HTML" if _looks_like_html(response) else "text"
        raise ConnectorError(
            f"{client.name} token endpoint answered with {kind} instead of JSON (status {status})",
            service_message=excerpt(response.text),
            status=status,
        )
    if status >= 400:
        raise _oauth_error(client, body, status, refused)
    return body


def _oauth_error(
    client: OAuthClient, body: Mapping[str, Any], status: int, refused: str
) -> ConnectorError:
    """Return the typed error for an RFC 6749 error answer."""
    code = str(body.get("error") or "")
    said = str(body.get("error_description") or code or f"status {status}")
    if code == "invalid_grant":
        return AuthError(f"{refused} ({said})", service_message=said, status=status)
    if code in CLIENT_ERRORS:
        return ConnectorError(
            f"{client.name} rejected the OAuth client: check its client id and secret in the "
            f"admin settings ({said})",
            service_message=said,
            status=status,
        )
    return ConnectorError(
        f"{client.name} refused the token request ({status}): {said}",
        service_message=said,
        status=status,
    )


def _token_set(
    client: OAuthClient, body: Mapping[str, Any], *, kept_refresh_token: str, now: float | None
) -> TokenSet:
    """Build a TokenSet from a token answer."""
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise ConnectorError(f"{client.name} answered the token request without an access token")
    lifetime = _as_epoch(body.get("expires_in"))
    issued_at = time.time() if now is None else now
    return TokenSet(
        access_token=access_token,
        refresh_token=str(body.get("refresh_token") or kept_refresh_token),
        expires_at=None if lifetime is None else issued_at + lifetime,
        scope=str(body.get("scope") or ""),
        token_type=str(body.get("token_type") or "Bearer"),
    )


def _json_object(response: HttpResponse) -> dict[str, Any] | None:
    """Return the body as a JSON object, or None when it is anything else."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _looks_like_html(response: HttpResponse) -> bool:
    """Tell whether a body is a web page (a proxy or login page) rather than data."""
    content_type = response.headers.get("Content-Type", "").lower()
    return "html" in content_type or response.text.lstrip().startswith("<")


def _as_epoch(value: Any) -> float | None:
    """Return a number of seconds from a number or numeric text; None when absent or bad."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
