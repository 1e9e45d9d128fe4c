"""The Alembic history builds exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import newsletter.deliveries
import newsletter.feedback.records  # every table on the shared metadata
from newsletter.database import Database, alembic_config
from subscribers.db import Base


def test_the_migrated_schema_matches_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_the_history_downgrades_and_upgrades_cleanly(database: Database) -> None:
    config = alembic_config(database.engine)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(database.engine).get_table_names()) <= {"alembic_version"}
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    tables = set(inspect(database.engine).get_table_names())
    assert {"subscribers", "consent_events", "editions", "deliveries", "feedback_events"} <= tables
    assert newsletter.deliveries.Delivery.__tablename__ in tables
