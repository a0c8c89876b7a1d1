"""The OAuth authorization-code flow for connections: the provider's page and the code exchange."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext as _l

from connectors.base import Connector
from connectors.oauth2 import (
    OAuthClient,
    TokenSet,
    authorization_url,
    exchange_code,
    new_pkce_pair,
)
from models.setting import oauth_client_credentials, oauth_endpoints_overridable


class OAuthSetupError(ValueError):
    """The instance cannot start an OAuth flow for a service; the message says why."""


def oauth_client(cls: type[Connector], config: Mapping[str, Any]) -> OAuthClient:
    """Describe the service's OAuth application with the instance's client id and secret."""
    spec: Mapping[str, Any] = getattr(cls, "oauth", None) or {}
    if not spec.get("authorize_url") or not spec.get("token_url"):
        raise OAuthSetupError(_l("%(service)s does not declare its OAuth addresses.",
                                 service=cls.name))
    credentials = oauth_client_credentials(cls.key)
    if credentials is None:
        raise OAuthSetupError(_l(
            "%(service)s needs an OAuth client first: an owner or admin enters its client id "
            "and secret under Settings → OAuth clients.", service=cls.name))
    client_id, client_secret = credentials
    extra = spec.get("extra_authorize_params") or spec.get("authorize_params") or {}
    # A connection may point at a sandbox or a test server, where the instance allows it.
    config = config if oauth_endpoints_overridable() else {}
    return OAuthClient(
        authorize_url=str(config.get("authorize_url") or spec["authorize_url"]),
        token_url=str(config.get("token_url") or spec["token_url"]),
        client_id=client_id, client_secret=client_secret,
        scopes=tuple(spec.get("scopes") or ()), extra_authorize_params=dict(extra),
        use_pkce=bool(spec.get("use_pkce", True)), name=cls.name)


def begin(cls: type[Connector], config: Mapping[str, Any], redirect_uri: str,
          **pending: Any) -> tuple[str, str, dict[str, Any]]:
    """Return the provider's consent address, the state and what the callback needs."""
    client = oauth_client(cls, config)
    state = secrets.token_urlsafe(24)
    verifier, challenge = new_pkce_pair() if client.use_pkce else (None, None)
    url = authorization_url(client, redirect_uri, state, challenge)
    return url, state, {"service": cls.key, "config": dict(config), "verifier": verifier,
                        "redirect_uri": redirect_uri, **pending}


def finish(cls: type[Connector], pending: Mapping[str, Any], code: str,
           redirect_uri: str) -> TokenSet:
    """Trade the code from the provider's redirect for tokens (a short, explicit user action)."""
    from workers.services import shared_http_client

    client = oauth_client(cls, pending.get("config") or {})
    return exchange_code(client, shared_http_client(), code, redirect_uri,
                         pending.get("verifier"))
