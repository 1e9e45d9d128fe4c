"""The ``newsletter`` Typer app: every command group registered in one place, and the error boundary.

Settings are loaded once here (the root callback) and passed down; nothing below reads env vars.
Every error a user can cause ends as one line on stderr and a non-zero exit, never a traceback:
NewsletterError and StoreError subclasses are caught in ``main``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from newsletter.cli.editors import editors_app
from newsletter.cli.feedback import bounces_app, stats_command
from newsletter.cli.init import config_command, init_command
from newsletter.cli.review import render_command
from newsletter.cli.send import send_command
from newsletter.cli.serve import serve_command
from newsletter.cli.steering import cancel_command, pause_command, run_due_command
from newsletter.cli.subscribers import subscribers_app
from newsletter.config import config_path, load_settings
from newsletter.errors import NewsletterError
from subscribers.errors import StoreError

app = typer.Typer(
    help="Produce and deliver an email newsletter.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("init")(init_command)
app.command("config")(config_command)
app.command("render")(render_command)
app.command("send")(send_command)
app.command("pause")(pause_command)
app.command("cancel")(cancel_command)
app.command("run-due")(run_due_command)
app.command("stats")(stats_command)
app.command("serve")(serve_command)
app.add_typer(subscribers_app, name="subscribers", help="Manage the list.")
app.add_typer(bounces_app, name="bounces")
app.add_typer(editors_app, name="editors")


@app.callback()
def _load(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option(help="TOML settings file (default: ./newsletter.toml)")
    ] = None,
) -> None:
    ctx.obj = load_settings(config_file=config)
    ctx.meta["config_path"] = config_path(config_file=config)


def main() -> None:
    try:
        app(standalone_mode=True)
    except (NewsletterError, StoreError) as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(1)
