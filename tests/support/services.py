"""Reaching the real services tests need, and the rule for when they are not there.

On a laptop without PostgreSQL (or chromium …) such tests skip with the reason. CI sets
NEWSLETTER_REQUIRE_SERVICES=1, which turns every such skip into a failure, so CI always runs them.
"""

from __future__ import annotations

import os
import socket

import pytest

REQUIRE = os.environ.get("NEWSLETTER_REQUIRE_SERVICES", "") not in ("", "0")
POSTGRES_URL = os.environ.get(
    "NEWSLETTER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def unavailable(reason: str) -> None:
    """Skip, or fail when CI demands every service."""
    if REQUIRE:
        pytest.fail(f"{reason} (NEWSLETTER_REQUIRE_SERVICES is set, so this is a failure)")
    pytest.skip(reason)


CHROMIUM = "/usr/bin/chromium"
"""Debian's chromium, driven by Playwright (never ``playwright install``): the browser tests and benches."""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
