"""Chromium for the desk's browser tests, and the folder their screenshots go to."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import launched_chromium


@pytest.fixture
def chromium() -> Iterator[Any]:
    with launched_chromium("axe_playwright_python") as browser:
        yield browser


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the browser tests leave their screenshots: $NEWSLETTER_SCREENSHOTS/desk, else tmp_path."""
    root = os.environ.get("NEWSLETTER_SCREENSHOTS")
    folder = Path(root) / "desk" if root else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
