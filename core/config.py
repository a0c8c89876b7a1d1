"""Configuration: sane defaults, overridden by SVYAZKA_* environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ENV_PREFIX = "SVYAZKA"

DEFAULTS: dict[str, object] = {
    "DATABASE_URL": "",  # empty: SQLite file in the instance folder
    "REDIS_URL": "",  # empty: the run command starts a local server
    "SECRET_KEY": "",  # empty: generated once into the instance folder
    "ENCRYPTION_KEYS": "",  # empty: generated once into the instance folder
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,  # bytes; any request above it gets 413
    "HOOK_MAX_BYTES": 1024 * 1024,  # webhook bodies above it get 413
    "RETRY_MAX_ATTEMPTS": 5,  # tries of a transiently failing block, the first included
    "RETRY_BASE_SECONDS": 10,  # first retry delay; doubles each time
    "RETRY_MAX_SECONDS": 3600,
    "BLOCK_AFTER_FAILURES": 10,  # consecutive failed runs that block a bundle
    "DRAIN_BATCH_SIZE": 50,  # webhook events one worker job takes at once
    "SWEEP_AFTER_SECONDS": 10,  # received events older than this are enqueued again
    "STUCK_RUN_SECONDS": 900,  # a run unfinished this long is re-run (above the job timeout)
    "STUCK_CHECK_SECONDS": 60,
    "RETENTION_DAYS": 62,  # the journal keeps two months, as the seed says
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": False,  # set SVYAZKA_SESSION_COOKIE_SECURE=true behind HTTPS
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_DURATION": 30 * 24 * 3600,
    "WTF_CSRF_TIME_LIMIT": None,  # token lives as long as the session
    "BABEL_DEFAULT_LOCALE": "en",
    "BABEL_DEFAULT_TIMEZONE": "UTC",
    "LANGUAGES": ["en", "ru"],
    "ALLOW_PRIVATE_NETWORK": False,  # outgoing HTTP to private addresses
    # Let connections point OAuth addresses elsewhere (sandboxes, tests): the instance's
    # client secret goes to the token address, so an editor could otherwise collect it.
    "OAUTH_ENDPOINT_OVERRIDES": False,
    "SQLALCHEMY_ENGINE_OPTIONS": {},
    "MIN_PASSWORD_LENGTH": 8,
}

# Conventional names accepted without the prefix, as hosting platforms set them.
UNPREFIXED_ALIASES = ("DATABASE_URL", "REDIS_URL")


def load_config(app, test_config: dict | None) -> None:
    """Fill app.config from defaults, the environment, then test overrides."""
    app.config.from_mapping(DEFAULTS)
    for name in UNPREFIXED_ALIASES:
        if os.environ.get(name):
            app.config[name] = os.environ[name]
    app.config.from_prefixed_env(ENV_PREFIX)
    if test_config:
        app.config.from_mapping(test_config)
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_uri(app.config, instance)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = read_or_create_secret(instance / "secret_key")


def database_uri(config, instance: Path) -> str:
    """Return the SQLAlchemy URI: DATABASE_URL or SQLite in the instance folder."""
    url = config.get("SQLALCHEMY_DATABASE_URI") or config["DATABASE_URL"]
    if not url:
        return f"sqlite:///{instance / 'svyazka.db'}"
    # Hosting platforms hand out postgres:// URLs; psycopg 3 needs its own dialect.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def read_or_create_secret(path: Path) -> str:
    """Read a secret from a file, creating it (mode 600) on first use."""
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
