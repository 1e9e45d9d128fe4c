"""Debian's chromium for browser tests (never `playwright install`), and axe-core to check a page."""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from typing import Any

from tests.support.services import CHROMIUM, CHROMIUM_ARGS, unavailable


def axe_violations(page: Any) -> list[str]:
    """axe-core's violations on the page as it is now, one line each (rule, impact, where)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
    ]


@contextlib.contextmanager
def launched_chromium(*modules: str) -> Iterator[Any]:
    """Chromium through Playwright; skips (or fails, in CI) when it or a needed module is missing."""
    if not os.path.exists(CHROMIUM):
        unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
    for module in ("playwright", *modules):
        if importlib.util.find_spec(module) is None:
            unavailable(f"{module} is not installed (pip install -e '.[test]')")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
