"""The `newsletter` command as users run it: a real subprocess, without this shell's NEWSLETTER_* settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run(
    cwd: Path,
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    script: str | None = None,
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    command = (
        [sys.executable, script]
        if script
        else [sys.executable, "-c", "from newsletter.cli import main; main()"]
    )
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        input=stdin,
        env={**base, **(env or {})},
        timeout=120,
    )
