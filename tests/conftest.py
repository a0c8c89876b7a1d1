"""Shared fixtures: an app on a migrated temporary database, clients, factories."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from models import Account, Role, User, db

TEST_DATABASE_URL = os.environ.get("SVYAZKA_TEST_DATABASE_URL", "")
PASSWORD = "correct-horse-42"
TOKEN_PATTERN = re.compile(r'name="csrf-token" content="([^"]+)"')


class CsrfClient(FlaskClient):
    """A test client that sends the CSRF token like a real browser form would."""

    def open(self, *args, **kwargs):
        """Serve each request in its own app context, as a real server would.

        The test body holds an app context of its own; sharing it would leak `g`
        (the logged-in user, the CSRF token) and the database session between requests.
        """
        with self.application.app_context():
            return super().open(*args, **kwargs)

    def fetch_csrf_token(self) -> str:
        """Read a fresh CSRF token from a page of this client's session."""
        for path in ("/account/", "/login", "/setup"):
            match = TOKEN_PATTERN.search(self.get(path).get_data(as_text=True))
            if match:
                return match.group(1)
        raise AssertionError("no page rendered a CSRF token")

    def post(self, *args, csrf: bool = True, **kwargs):
        """POST with the token added to the form data, unless csrf=False."""
        if csrf:
            data = dict(kwargs.get("data") or {})
            headers = dict(kwargs.get("headers") or {})
            token = self.fetch_csrf_token()
            if "json" in kwargs or headers.get("HX-Request"):
                headers.setdefault("X-CSRFToken", token)
            else:
                data.setdefault("csrf_token", token)
                kwargs["data"] = data
            kwargs["headers"] = headers
        return super().post(*args, **kwargs)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path | None:
    """Migrate one SQLite database per session; each test gets a copy of it."""
    from flask_migrate import upgrade

    from app import create_app

    if TEST_DATABASE_URL:
        app = create_app(base_config(tmp_path_factory.mktemp("pg"), TEST_DATABASE_URL))
        with app.app_context():
            drop_everything()
            upgrade()
        return None
    folder = tmp_path_factory.mktemp("template")
    app = create_app(base_config(folder, f"sqlite:///{folder / 'template.db'}"))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return folder / "template.db"


def base_config(instance: Path, database_url: str) -> dict:
    """Return the configuration every test app shares."""
    os.environ["SVYAZKA_INSTANCE_PATH"] = str(instance)
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": os.environ.get("SVYAZKA_TEST_REDIS_URL", "redis://127.0.0.1:1/0"),
        "MIN_PASSWORD_LENGTH": 8,
    }


def drop_everything() -> None:
    """Empty a PostgreSQL test database, schema and all."""
    with db.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))


def truncate_all() -> None:
    """Remove every row from every table (PostgreSQL tests share one database)."""
    names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    with db.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def app(tmp_path, migrated_template):
    """Create an app on its own migrated database."""
    from app import create_app

    if migrated_template is None:
        url = TEST_DATABASE_URL
    else:
        shutil.copy(migrated_template, tmp_path / "test.db")
        url = f"sqlite:///{tmp_path / 'test.db'}"
    application = create_app(base_config(tmp_path, url))
    application.test_client_class = CsrfClient
    with application.app_context():
        yield application
        db.session.remove()
        if migrated_template is None:
            truncate_all()
        db.engine.dispose()


@pytest.fixture
def client(app) -> CsrfClient:
    """Return an anonymous client."""
    return app.test_client()


@pytest.fixture
def make_account(app):
    """Create committed accounts."""

    def factory(name: str = "Acme", **fields) -> Account:
        account = Account(name=name, **fields)
        db.session.add(account)
        db.session.commit()
        return account

    return factory


@pytest.fixture
def make_user(app, make_account):
    """Create committed users (a new account unless one is given)."""
    counter = iter(range(1, 10_000))

    def factory(role: Role | str = Role.OWNER, account: Account | None = None,
                email: str | None = None, password: str = PASSWORD, **fields) -> User:
        account = account or make_account()
        email = email or f"user{next(counter)}-{Role(role).value}@example.com"
        user = User(account=account, email=email, role=Role(role).value, **fields)
        user.set_password(password)
        db.session.add(user)
        db.session.commit()
        return user

    return factory


def log_in(client: CsrfClient, user: User, password: str = PASSWORD):
    """Log a client in through the real login form."""
    response = client.post("/login", data={"email": user.email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


@pytest.fixture
def login_as(app, make_user):
    """Return a client logged in as a new user of the given role."""

    def factory(role: Role | str = Role.OWNER, account: Account | None = None) -> CsrfClient:
        user = make_user(role, account=account)
        client = app.test_client()
        log_in(client, user)
        client.user = user
        return client

    return factory


@pytest.fixture
def owner_client(login_as) -> CsrfClient:
    """Return a client logged in as an owner."""
    return login_as(Role.OWNER)


@pytest.fixture
def make_bundle(app, make_account):
    """Create a committed bundle with one saved version of the given definition."""
    import secrets

    from models import Bundle, BundleVersion

    def factory(definition: dict, account: Account | None = None, status: str = "running",
                name: str = "Test bundle", **fields) -> Bundle:
        account = account or make_account()
        kind = definition.get("source", {}).get("kind", "webhook")
        bundle = Bundle(account_id=account.id, name=name, status=status, trigger_kind=kind,
                        current_version=1, webhook_token=secrets.token_urlsafe(24), **fields)
        db.session.add(bundle)
        db.session.flush()
        db.session.add(BundleVersion(account_id=account.id, bundle_id=bundle.id, number=1,
                                     definition=definition))
        db.session.commit()
        return bundle

    return factory
