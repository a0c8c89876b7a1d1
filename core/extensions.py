"""Flask extensions, created unbound and attached in create_app."""

from __future__ import annotations

from typing import Any

import click
from flask import Flask, current_app
from flask_babel import Babel
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine

from models.base import db


class DeferredMigrate:
    """Flask-Migrate, imported only when a migration runs: it costs ~10 MB and 0.1 s.

    init_app leaves stand-ins for the `db` command group and app.extensions["migrate"];
    the first use of either sets Flask-Migrate up for real, which replaces them both.
    """

    def init_app(self, app: Flask, database: SQLAlchemy, directory: str) -> None:
        """Register the stand-ins; nothing is imported yet."""
        app.extensions["migrate"] = DeferredMigrateConfig(app, database, directory)
        app.cli.add_command(DeferredMigrationCommands("db", help="Perform database migrations."))


class DeferredMigrateConfig:
    """Stands in for Flask-Migrate's app.extensions["migrate"] until an attribute is read."""

    def __init__(self, app: Flask, database: SQLAlchemy, directory: str) -> None:
        self._app, self._database, self._directory = app, database, directory
        self._real: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # never recurse for our own, not yet set, attributes
            raise AttributeError(name)
        return getattr(self.load(), name)

    def load(self) -> Any:
        """Set Flask-Migrate up on the app (once) and return its real configuration."""
        if self._real is None:
            from flask_migrate import Migrate

            Migrate(self._app, self._database, directory=self._directory, render_as_batch=True)
            self._real = self._app.extensions["migrate"]
        return self._real


class DeferredMigrationCommands(click.Group):
    """`flask db ...`: Flask-Migrate's command group, imported when it is invoked."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        """Hand the command line to the real group, which then parses and runs it."""
        return real_migration_commands().make_context(info_name, args, parent=parent, **extra)


def real_migration_commands() -> click.Group:
    """Set Flask-Migrate up on the current app and return its `db` command group."""
    config = current_app.extensions["migrate"]
    if isinstance(config, DeferredMigrateConfig):
        config.load()
    from flask_migrate.cli import db as migration_commands

    return migration_commands


migrate = DeferredMigrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()

__all__ = ["db", "migrate", "login_manager", "csrf", "babel", "init_extensions"]


def init_extensions(app) -> None:
    """Bind every extension to the app."""
    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    csrf.init_app(app)
    from core.i18n import select_locale, select_timezone

    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection, _record) -> None:
    """Turn on WAL, foreign keys and a busy timeout for every SQLite connection."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
