"""Opening the database for a command or the web app, and bringing its schema up to date (Alembic).

Alembic is imported only to migrate (``newsletter init``): it costs ~12 MB of memory in every process
that imports it, and a send of a million messages is held to 100 MB. Opening checks the schema version
by reading ``alembic_version`` against ``HEAD_REVISION``; a test keeps that constant equal to the head
of the migration scripts.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.delivery.ledger import Ledger
from newsletter.errors import ConfigError
from subscribers.db import make_engine, make_session_factory
from subscribers.store import SubscriberStore

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD_REVISION = "0006_editors"
"""The newest migration's revision: a new migration changes it (tests/test_migrations.py checks)."""


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # configparser treats % as interpolation: URL-encoded options (search_path) must be escaped.
    config.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


def upgrade(engine: Engine) -> None:
    from alembic import command

    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def is_current(engine: Engine) -> bool:
    with engine.connect() as connection:
        try:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        except (OperationalError, ProgrammingError):  # no table: never initialised
            connection.rollback()
            return False
    return list(versions) == [HEAD_REVISION]


@dataclasses.dataclass
class Database:
    """The engine and the two stores over it; ``close()`` releases the pool."""

    engine: Engine
    sessions: sessionmaker[Session]
    store: SubscriberStore
    ledger: Ledger

    def close(self) -> None:
        self.engine.dispose()


POSTGRES_DRIVER = "postgresql+psycopg"
SUPPORTED = ("sqlite", "postgresql")


def database_url(configured: str) -> str:
    """The URL SQLAlchemy is given: a plain ``postgresql://`` (or ``postgres://``) means psycopg 3.

    SQLAlchemy's default PostgreSQL driver is psycopg2, which this project does not install; the
    ``postgres`` extra brings psycopg 3, so a URL written as most hosting providers print it just works.
    """
    scheme, separator, rest = configured.partition("://")
    if separator and scheme.lower() in ("postgres", "postgresql"):
        return f"{POSTGRES_DRIVER}://{rest}"
    return configured


def create_database_engine(configured: str) -> Engine:
    """An engine for the configured URL, or a ConfigError in one line: unparsable URL, unsupported
    database, or a driver that is not installed (with the pip extra that brings it)."""
    url = database_url(configured)
    try:
        engine = make_engine(url)
    except ArgumentError:
        raise ConfigError(f"database_url {configured!r} is not a database URL") from None
    except ModuleNotFoundError as exc:
        if url.startswith(POSTGRES_DRIVER):
            raise ConfigError(
                "database_url names PostgreSQL but its driver (psycopg) is not installed: "
                "pip install 'newsletter[postgres]'"
            ) from None
        raise ConfigError(f"database_url {configured!r}: the driver {exc.name!r} is not installed") from None
    except NoSuchModuleError:
        raise ConfigError(f"database_url {configured!r}: unknown database or driver") from None
    if engine.dialect.name not in SUPPORTED:
        engine.dispose()
        raise ConfigError(
            f"database_url {configured!r}: {engine.dialect.name} is not supported; use SQLite or PostgreSQL"
        )
    return engine


def open_database(settings: Settings, *, migrate: bool = False) -> Database:
    engine = create_database_engine(settings.database_url)
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
