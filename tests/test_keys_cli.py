"""`keys rotate` re-seals every secret under a new primary key; `keys status` counts them."""

from __future__ import annotations

import pytest

from core.crypto import key_ring, keys_file, new_key_entry, sealed_key_id
from models import Connection, SystemSetting, db
from models.setting import get_sealed_setting, set_sealed_setting


@pytest.fixture
def sealed_rows(app, make_account):
    """Store one connection and one setting with sealed secrets."""
    connection = Connection(account_id=make_account().id, service="webhook", name="Hook")
    connection.write_secrets({"api_key": "sk-secret-123456"})
    db.session.add(connection)
    set_sealed_setting("oauth_client.google_sheets", {"client_secret": "GOCSPX-123"})
    db.session.commit()
    return connection


def run(app, *args: str):
    """Invoke a `flask` command and return the result."""
    return app.test_cli_runner().invoke(args=list(args))


def test_rotate_reseals_everything_with_a_new_primary_key(app, sealed_rows):
    old_id = key_ring().primary[0]

    result = run(app, "keys", "rotate")

    assert result.exit_code == 0, result.output
    ring = key_ring()
    new_id = ring.primary[0]
    assert new_id != old_id and [key_id for key_id, _ in ring.keys] == [new_id, old_id]
    assert result.output.strip() == f"rotated connections=1 settings=1 key={new_id}"
    db.session.expire_all()
    connection = db.session.get(Connection, sealed_rows.id)
    setting = db.session.get(SystemSetting, "oauth_client.google_sheets")
    assert sealed_key_id(connection.secrets_sealed) == new_id
    assert sealed_key_id(setting.sealed) == new_id
    assert connection.read_secrets() == {"api_key": "sk-secret-123456"}
    assert get_sealed_setting("oauth_client.google_sheets") == {"client_secret": "GOCSPX-123"}
    assert oct(keys_file().stat().st_mode & 0o777) == "0o600"


def test_status_counts_rows_per_key(app, sealed_rows):
    old_id = key_ring().primary[0]
    before = run(app, "keys", "status").output
    assert before.strip() == f"key={old_id} role=primary connections=1 settings=1"

    run(app, "keys", "rotate")
    after = run(app, "keys", "status").output.splitlines()

    new_id = key_ring().primary[0]
    assert after == [f"key={new_id} role=primary connections=1 settings=1",
                     f"key={old_id} role=old connections=0 settings=0"]


def test_env_keys_are_not_rotated_behind_the_operators_back(app, sealed_rows):
    old_entry = keys_file().read_text()
    app.config["ENCRYPTION_KEYS"] = f"{new_key_entry()},{old_entry}"

    refused = run(app, "keys", "rotate")
    assert refused.exit_code == 1 and "SVYAZKA_ENCRYPTION_KEYS" in refused.output
    assert "keys rotate --reseal" in refused.output

    resealed = run(app, "keys", "rotate", "--reseal")
    env_primary = key_ring().primary[0]
    assert resealed.output.strip() == f"rotated connections=1 settings=1 key={env_primary}"
    assert keys_file().read_text() == old_entry  # the instance file is left alone


def test_connectors_list(app):
    output = run(app, "connectors", "list").output
    assert "webhook\tauth=webhook\ttriggers=catch\tactions=-" in output.splitlines()
    assert any(line.startswith("http_request\tauth=none") for line in output.splitlines())
