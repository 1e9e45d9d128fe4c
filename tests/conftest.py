"""Real parts for every test: a migrated SQLite file or PostgreSQL schema, settings, the store and ledger.

The ``database`` fixture runs each test that uses it on both SQLite and PostgreSQL. Each PostgreSQL test
gets its own schema (created, migrated, dropped), so tests never see each other's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from newsletter.config import Settings
from newsletter.database import Database, open_database
from newsletter.edition.digest import Digest, load_digest
from tests.support.services import POSTGRES_URL, port_open, unavailable

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIGEST = ROOT / "samples" / "2011-07-11-weekly-highlights.yaml"
SHARED = ROOT.parent / "shared"
TEST_SECRET = "test-secret-key-0123456789abcdef"


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "outbox_dir": tmp_path / "outbox",
        "cache_dir": tmp_path / "cache",
        "secret_key": TEST_SECRET,
        "from_address": "Burma Partnership <news@example.org>",
        "postal_address": "PO Box 1, Chiang Mai 50200, Thailand",
        "base_url": "https://news.example.org",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def _postgres_schema_url(schema: str) -> str:
    joiner = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{joiner}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'newsletter.db'}"
        return
    if not port_open("127.0.0.1", 5432):
        unavailable("PostgreSQL is not reachable on 127.0.0.1:5432")
    from subscribers.db import make_engine

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _postgres_schema_url(schema)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    db = open_database(settings, migrate=True)
    yield db
    db.close()


@pytest.fixture(scope="session")
def sample_digest() -> Digest:
    return load_digest(SAMPLE_DIGEST)
