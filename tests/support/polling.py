"""Waiting for work that finishes after the answer: a send in another process, a signup applied by a
background task once its page has been served."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T], seconds: float = 60.0, what: str = "the condition") -> T:
    """Poll ``check()`` until it returns something true, and return that; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
