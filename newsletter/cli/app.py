"""The ``newsletter`` command. Settings are loaded once here and passed down; nothing below reads env vars.

Every error a user can cause ends as one line on stderr and a non-zero exit, never a traceback:
NewsletterError and StoreError subclasses are caught in ``main``.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from newsletter.cli_delivery import cancel_command, pause_command, run_due_command
from newsletter.cli_feedback import bounces_app, show_command, stats_command
from newsletter.cli_send import send_command
from newsletter.cli_subscribers import app as subscribers_app
from newsletter.cli_web import serve_command  # + subscribers purge-pending, export-data, erase
from newsletter.config import (
    ENV_PREFIX,
    Settings,
    append_settings,
    config_path,
    load_settings,
    new_secret_key,
)
from newsletter.database import open_database
from newsletter.errors import NewsletterError
from newsletter.preview import write_preview
from subscribers.errors import StoreError
from subscribers.models import Status
from subscribers.store import Consent

app = typer.Typer(
    help="Produce and deliver an email newsletter.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(subscribers_app, name="subscribers", help="Manage the list.")
app.command("send")(send_command)
app.command("pause")(pause_command)
app.command("cancel")(cancel_command)
app.command("run-due")(run_due_command)
app.command("serve")(serve_command)
app.add_typer(bounces_app, name="bounces")
app.command("stats")(stats_command)
subscribers_app.command("show")(show_command)

DEMO_DOMAIN = "example.org"
URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")
DEMO_POSTAL_ADDRESS = "Demo Newsroom, 1 Example Street, 10115 Example City"


@app.callback()
def _load(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option(help="TOML settings file (default: ./newsletter.toml)")
    ] = None,
) -> None:
    ctx.obj = load_settings(config_file=config)
    ctx.meta["config_path"] = config_path(config_file=config)


def settings_of(ctx: typer.Context) -> Settings:
    root = ctx.find_root()
    assert isinstance(root.obj, Settings)
    return root.obj


@app.command()
def init(
    ctx: typer.Context,
    demo: Annotated[int, typer.Option(min=0, help="add N confirmed example.org subscribers")] = 0,
) -> None:
    """Create or upgrade the database; write a secret key to newsletter.toml if none is configured."""
    settings = settings_of(ctx)
    database = open_database(settings, migrate=True)
    out = Console(stderr=True)
    try:
        out.print(f"database ready: {database.engine.url.render_as_string()}")
        config_file: Path = ctx.find_root().meta["config_path"]
        additions: dict[str, str] = {}
        if len(settings.secret_key) < 16:
            additions["secret_key"] = new_secret_key()
            out.print(f"wrote a new secret key to {config_file} (keep it private; tokens are signed with it)")
        if demo and not settings.postal_address:
            additions["postal_address"] = DEMO_POSTAL_ADDRESS
            out.print(
                f"demo: postal address set to {DEMO_POSTAL_ADDRESS!r} in {config_file}; put your own there"
            )
        if additions:
            append_settings(config_file, additions)
        if demo:
            rows = [(f"reader{i}@{DEMO_DOMAIN}", f"Reader {i}") for i in range(1, demo + 1)]
            added = database.store.add_many(rows, status=Status.confirmed, consent=Consent(source="demo"))
            out.print(f"demo: {added} confirmed subscribers added ({demo - added} were already there)")
    finally:
        database.close()


@app.command()
def render(
    ctx: typer.Context,
    digest: Annotated[Path, typer.Argument(help="digest file (.yaml or .json)")],
    out: Annotated[Path, typer.Option(help="folder for edition.html, edition.txt and sample.eml")] = Path(
        "preview"
    ),
) -> None:
    """Render a digest for preview: edition.html and edition.txt (with a sample reader) and sample.eml."""
    paths = write_preview(settings_of(ctx), digest, out)
    for path in paths:
        typer.echo(str(path))


@app.command("config")
def show_config(ctx: typer.Context) -> None:
    """Show every setting, its current value (secrets hidden) and its environment variable."""
    settings = settings_of(ctx)
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        shown = "(set)" if "key" in field.name and value else value
        if isinstance(shown, str):
            shown = URL_PASSWORD.sub(r"\1***@", shown)  # smtp://user:password@host, database URLs
        typer.echo(f"{ENV_PREFIX}{field.name.upper():<24} {shown!s:<40} {field.metadata.get('help', '')}")


def main() -> None:
    try:
        app(standalone_mode=True)
    except (NewsletterError, StoreError) as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(1)
