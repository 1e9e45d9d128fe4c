"""The one web-app client the web tests share: the app over the test's settings and migrated database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from newsletter.config import Settings
from newsletter.database import Database
from tests.support.web_helpers import build_app, make_client


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[Any]:
    with make_client(build_app(settings, database)) as c:
        yield c
