"""Flask extensions, created unbound and attached in create_app."""

from __future__ import annotations

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine

from models.base import db

migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()

__all__ = ["db", "migrate", "login_manager", "csrf", "babel", "init_extensions"]


def init_extensions(app) -> None:
    """Bind every extension to the app."""
    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/migrations"), render_as_batch=True)
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
