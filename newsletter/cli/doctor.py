"""``newsletter doctor``: every check of ``doctor_checks``, one line each, exit 1 on any problem.

The checks import the stages (database, transports, broker); they are loaded only when the command
runs, so ``doctor --help`` stays as light as every other command's help.
"""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli.common import settings_of
from newsletter.errors import ConfigError

CHECK_NAMES = ("configuration", "database", "broker", "redis", "transport", "dkim", "dns")
MARKS = {"ok": "[green]ok[/]     ", "warning": "[yellow]warning[/]", "problem": "[bold red]problem[/]"}


def doctor_command(
    ctx: typer.Context,
    skip: Annotated[
        list[str] | None, typer.Option("--skip", help=f"leave a check out: {', '.join(CHECK_NAMES)}")
    ] = None,
) -> None:
    """Check configuration, database, migrations, broker, Redis, transport, DKIM key and DNS names."""
    from rich.console import Console
    from rich.markup import escape

    from newsletter.cli.doctor_checks import CHECKS

    unknown = set(skip or ()) - set(CHECK_NAMES)
    if unknown:
        raise ConfigError(
            f"--skip: no check named {', '.join(sorted(unknown))}; there are {', '.join(CHECK_NAMES)}"
        )
    settings = settings_of(ctx)
    out = Console(highlight=False, soft_wrap=True)
    problems = 0
    for name, check in CHECKS.items():
        if name in (skip or ()):
            continue
        for finding in check(settings):
            problems += finding.level == "problem"
            out.print(f"{MARKS[finding.level]} {finding.check:<13} {escape(finding.text)}")
    out.print(f"{problems} problem(s) found" if problems else "no problems found")
    if problems:
        raise typer.Exit(1)
