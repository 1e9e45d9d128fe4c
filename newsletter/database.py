"""Opening the database for a command or the web app, and bringing its schema up to date (Alembic)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.deliveries import Ledger
from newsletter.errors import ConfigError
from subscribers.db import make_engine, make_session_factory
from subscribers.store import SubscriberStore

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # configparser treats % as interpolation: URL-encoded options (search_path) must be escaped.
    config.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


def upgrade(engine: Engine) -> None:
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def is_current(engine: Engine) -> bool:
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head


@dataclasses.dataclass
class Database:
    """The engine and the two stores over it; ``close()`` releases the pool."""

    engine: Engine
    sessions: sessionmaker[Session]
    store: SubscriberStore
    ledger: Ledger

    def close(self) -> None:
        self.engine.dispose()


def open_database(settings: Settings, *, migrate: bool = False) -> Database:
    engine = make_engine(settings.database_url)
    try:
        if migrate:
            upgrade(engine)
        elif not is_current(engine):
            raise ConfigError(
                f"the database at {engine.url.render_as_string()} is not initialised or is out of date: "
                "run `newsletter init`"
            )
    except OperationalError as exc:
        engine.dispose()
        raise ConfigError(f"cannot open the database {engine.url.render_as_string()}: {exc.orig}") from None
    sessions = make_session_factory(engine)
    return Database(engine, sessions, SubscriberStore(sessions), Ledger(sessions))
