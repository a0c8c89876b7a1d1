"""svyazka: the application factory. Run with `flask --app app ...`."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask

from core.config import load_config
from core.errors import register_error_handlers
from core.extensions import init_extensions

# Registered in this order; each module exposes `bp`.
BLUEPRINTS = (
    "blueprints.health",
    "blueprints.auth",
    "blueprints.account",
    "blueprints.users",
    "blueprints.bundles",
    "blueprints.connections",
    "blueprints.journal",
    "blueprints.catalog",
    "blueprints.hooks",
    "blueprints.settings",
)

CLI_GROUPS = ("cli.users", "cli.stack", "cli.bundles", "cli.scheduler", "cli.keys",
              "cli.connectors")

ROOT = Path(__file__).resolve().parent


def create_app(test_config: dict | None = None) -> Flask:
    """Build and configure the svyazka web application."""
    instance_path = os.environ.get("SVYAZKA_INSTANCE_PATH") or str(ROOT / "instance")
    app = Flask(__name__, root_path=str(ROOT), instance_path=instance_path)
    load_config(app, test_config)
    logging.basicConfig(level=app.config.get("LOG_LEVEL", "INFO"))
    init_extensions(app)
    register_error_handlers(app)
    register_blueprints(app)
    register_cli(app)
    from blueprints.hooks import install_gateway
    from core import web

    web.init_web(app)
    install_gateway(app)  # webhooks are served ahead of Flask's request handling
    return app


def register_blueprints(app: Flask) -> None:
    """Import each blueprint module from the explicit list and register it."""
    from importlib import import_module

    for name in BLUEPRINTS:
        app.register_blueprint(import_module(name).bp)


def register_cli(app: Flask) -> None:
    """Add the svyazka CLI command groups to `flask`."""
    from importlib import import_module

    for name in CLI_GROUPS:
        for command in import_module(name).COMMANDS:
            app.cli.add_command(command)
