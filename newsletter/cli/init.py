"""``newsletter init`` and ``newsletter config``: setting a project up, and seeing what it is set to."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.common import settings_of
from newsletter.config import ENV_PREFIX, append_settings, new_secret_key

DEMO_DOMAIN = "example.org"
URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")
DEMO_POSTAL_ADDRESS = "Demo Newsroom, 1 Example Street, 10115 Example City"


def init_command(
    ctx: typer.Context,
    demo: Annotated[int, typer.Option(min=0, help="add N confirmed example.org subscribers")] = 0,
) -> None:
    """Create or upgrade the database; write a secret key to newsletter.toml if none is configured."""
    from rich.console import Console

    from newsletter.database import open_database
    from subscribers.models import Status
    from subscribers.store import Consent

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


def config_command(ctx: typer.Context) -> None:
    """Show every setting, its current value (secrets hidden) and its environment variable."""
    settings = settings_of(ctx)
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        shown = "(set)" if "key" in field.name and value else value
        if isinstance(shown, str):
            shown = URL_PASSWORD.sub(r"\1***@", shown)  # smtp://user:password@host, database URLs
        typer.echo(f"{ENV_PREFIX}{field.name.upper():<24} {shown!s:<40} {field.metadata.get('help', '')}")
