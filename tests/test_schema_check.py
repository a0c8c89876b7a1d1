"""The stack's quick look at whether migrations are due."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from cli.schema_check import head_revisions, schema_is_current
from models import db

VERSIONS = Path(__file__).resolve().parent.parent / "migrations" / "versions"


def write(folder: Path, name: str, revision: str, parent: str | None) -> None:
    parent_text = f"'{parent}'" if parent else "None"
    (folder / name).write_text(f"revision = '{revision}'\ndown_revision = {parent_text}\n")


def test_the_head_is_the_revision_nothing_builds_on(tmp_path):
    write(tmp_path, "a.py", "0001", None)
    write(tmp_path, "b.py", "0002", "0001")
    assert head_revisions(tmp_path) == {"0002"}
    write(tmp_path, "c.py", "0003", "0001")  # a branch: two heads
    assert head_revisions(tmp_path) == {"0002", "0003"}


def test_the_migrated_test_database_is_current(app):
    assert schema_is_current(db.engine, VERSIONS)


def test_an_older_or_empty_database_is_not(app, tmp_path):
    (head,) = head_revisions(VERSIONS)
    set_version = text("UPDATE alembic_version SET version_num = :v")
    with db.engine.begin() as conn:
        conn.execute(set_version, {"v": "0001"})
    try:
        assert not schema_is_current(db.engine, VERSIONS)
    finally:  # PostgreSQL tests share the database
        with db.engine.begin() as conn:
            conn.execute(set_version, {"v": head})
    fresh = create_engine(f"sqlite:///{tmp_path}/fresh.db")
    assert not schema_is_current(fresh, VERSIONS)


def test_two_heads_always_go_through_alembic(app, tmp_path):
    write(tmp_path, "a.py", "0001", None)
    write(tmp_path, "b.py", "0002", "0001")
    write(tmp_path, "c.py", "0003", "0001")
    assert not schema_is_current(db.engine, tmp_path)
