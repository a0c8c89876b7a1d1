"""The schema comes from migrations, and they match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from models import db


def test_migrations_build_the_schema_the_models_describe(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"render_as_batch": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_upgrade_from_empty_and_downgrade_back(app):
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade()
    tables = set(inspect(db.engine).get_table_names())
    expected = {"account", "user", "connection", "bundle", "bundle_group", "bundle_version",
                "run", "run_step", "journal_event", "inbox_event", "catalog_template",
                "installed_template", "system_setting", "seen_item"}
    assert expected <= tables


def test_every_account_owned_table_has_an_indexed_account_id(app):
    inspector = inspect(db.engine)
    global_tables = {"account", "catalog_template", "system_setting", "seen_item",
                     "alembic_version"}
    for table in set(inspector.get_table_names()) - global_tables:
        columns = {c["name"] for c in inspector.get_columns(table)}
        assert "account_id" in columns, table
        indexed = {tuple(i["column_names"])[0] for i in inspector.get_indexes(table)}
        assert "account_id" in indexed, table
