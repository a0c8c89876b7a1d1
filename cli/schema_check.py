"""Tell, without importing Alembic, whether the database is already at the newest migration.

Importing Alembic and every migration script costs about half a second of the stack's
start-up; on an ordinary start there is nothing to apply, and the answer is in one row.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

REVISION = re.compile(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
DOWN_REVISION = re.compile(r"^down_revision\s*=\s*(?:['\"]([^'\"]+)['\"]|None)", re.MULTILINE)


def head_revisions(versions: Path) -> set[str]:
    """Return the revisions no other migration builds on (normally exactly one)."""
    revisions, parents = set(), set()
    for script in versions.glob("*.py"):
        source = script.read_text(encoding="utf-8")
        found = REVISION.search(source)
        if found is None:
            continue
        revisions.add(found.group(1))
        parent = DOWN_REVISION.search(source)
        if parent is not None and parent.group(1):
            parents.add(parent.group(1))
    return revisions - parents


def applied_revisions(engine: Engine) -> set[str]:
    """Return the revisions the database says it is at (empty when it has no schema yet)."""
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except DBAPIError:  # no alembic_version table: a fresh database
        return set()


def schema_is_current(engine: Engine, versions: Path) -> bool:
    """Tell whether the database is at the single newest migration."""
    heads = head_revisions(versions)
    return len(heads) == 1 and applied_revisions(engine) == heads
