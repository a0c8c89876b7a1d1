"""`flask --app app keys ...`: rotate the encryption key and see which keys seal what."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from core.crypto import (
    KeyRing,
    key_ring,
    keys_file,
    new_key_entry,
    parse_keys,
    seal,
    sealed_key_id,
    unseal,
)
from models.base import db
from models.connection import Connection
from models.setting import SystemSetting

keys = AppGroup("keys", help="Rotate the encryption key of stored secrets.")

ENV_KEYS_HELP = (
    "Keys come from SVYAZKA_ENCRYPTION_KEYS: put a new key first in that list (for example "
    "{entry}), keep the old ones after it, restart, then run `keys rotate --reseal`."
)


def sealed_rows() -> list[tuple[object, str]]:
    """Return every row holding sealed data with the attribute that holds it."""
    connections = db.session.scalars(
        select(Connection).where(Connection.secrets_sealed.is_not(None))).all()
    settings = db.session.scalars(
        select(SystemSetting).where(SystemSetting.sealed.is_not(None))).all()
    return [(row, "secrets_sealed") for row in connections] + [
        (row, "sealed") for row in settings]


def reseal_all(ring: KeyRing) -> tuple[int, int]:
    """Re-seal every secret with the ring's primary key (the caller commits)."""
    counts = Counter()
    for row, attribute in sealed_rows():
        setattr(row, attribute, seal(unseal(getattr(row, attribute), ring), ring))
        counts[type(row).__name__] += 1
    return counts["Connection"], counts["SystemSetting"]


def write_keys_file(path: Path, text: str) -> None:
    """Replace the instance key file atomically, readable by its owner only."""
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


@keys.command("rotate")
@click.option("--reseal", is_flag=True,
              help="Only re-seal with the current first key (after adding one to the env).")
def rotate(reseal: bool) -> None:
    """Make a new primary key and re-seal every stored secret with it."""
    from_env = bool(current_app.config.get("ENCRYPTION_KEYS"))
    if from_env and not reseal:
        raise click.ClickException(ENV_KEYS_HELP.format(entry=new_key_entry()))
    ring = key_ring()
    if not reseal:
        path = keys_file()
        # Written before the re-seal commits: the old keys stay in the file, so every row
        # can still be opened whether or not the transaction below succeeds.
        text = f"{new_key_entry()},{path.read_text().strip()}"
        ring = parse_keys(text)
        write_keys_file(path, text)
    connections, settings = reseal_all(ring)
    db.session.commit()
    click.echo(f"rotated connections={connections} settings={settings} key={ring.primary[0]}")


@keys.command("status")
def status() -> None:
    """Print each key id and how many connections and settings it seals."""
    ring = key_ring()
    counts: dict[str, Counter] = {key_id: Counter() for key_id, _ in ring.keys}
    for row, attribute in sealed_rows():
        key_id = sealed_key_id(getattr(row, attribute)) or "unknown"
        counts.setdefault(key_id, Counter())[type(row).__name__] += 1
    for key_id, found in counts.items():
        role = "primary" if key_id == ring.primary[0] else (
            "old" if key_id in dict(ring.keys) else "missing")
        click.echo(f"key={key_id} role={role} connections={found['Connection']} "
                   f"settings={found['SystemSetting']}")


COMMANDS = [keys]
