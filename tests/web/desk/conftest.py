"""Chromium for the desk's browser tests, and the folder their screenshots go to."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.services import unavailable


@pytest.fixture
def chromium() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
    for module in ("playwright", "axe_playwright_python"):
        if importlib.util.find_spec(module) is None:
            unavailable(f"{module} is not installed (pip install -e '.[test]')")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the browser tests leave their screenshots: $NEWSLETTER_SCREENSHOTS/desk, else tmp_path."""
    root = os.environ.get("NEWSLETTER_SCREENSHOTS")
    folder = Path(root) / "desk" if root else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
