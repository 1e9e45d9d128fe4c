"""The Alembic history builds exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

import newsletter.delivery.batches
import newsletter.delivery.leases
import newsletter.delivery.ledger
import newsletter.feedback.records  # every table on the shared metadata
import newsletter.shared_limits
import newsletter.web.desk.editors
from newsletter.config import Settings
from newsletter.database import HEAD_REVISION, Database, alembic_config, is_current, open_database
from newsletter.errors import ConfigError
from subscribers.db import Base, make_engine


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
    assert newsletter.delivery.ledger.Delivery.__tablename__ in tables


def test_a_database_opens_only_at_the_newest_migration(database: Database, tmp_path: Path) -> None:
    config = alembic_config(database.engine)
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION
    assert is_current(database.engine)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert not is_current(database.engine)
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # not even an alembic_version table
    assert not is_current(empty)
    empty.dispose()
    with pytest.raises(ConfigError, match="not initialised or is out of date"):
        open_database(Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}"))
