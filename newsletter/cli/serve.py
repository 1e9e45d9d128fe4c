"""``newsletter serve`` and the privacy side of ``newsletter subscribers``: purge-pending, export-data, erase.

Importing this module registers the three subcommands on the ``subscribers`` group, so ``cli.py`` needs
one line for them and one for ``serve``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer

from newsletter.cli_subscribers import app as subscribers_app
from newsletter.database import Database, open_database
from subscribers.store import Consent


def _open(ctx: typer.Context) -> Database:
    from newsletter.cli import settings_of

    return open_database(settings_of(ctx))


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8000,
) -> None:
    """Run the web app (signup form, confirm and unsubscribe links, webhooks) with uvicorn.

    One process: the signup rate limits are counted in memory. Behind a reverse proxy on the same
    machine, uvicorn takes the client address from X-Forwarded-For (it trusts 127.0.0.1 only).
    """
    import uvicorn

    from newsletter.cli import settings_of
    from newsletter.web.app import create_app

    app = create_app(settings_of(ctx))
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)


@subscribers_app.command("purge-pending")
def purge_pending(
    ctx: typer.Context,
    older_than: Annotated[
        int | None,
        typer.Option(
            "--older-than",
            min=1,
            metavar="DAYS",
            help="purge signups unconfirmed for this many days (default: setting purge_pending_days)",
        ),
    ] = None,
) -> None:
    """Forget signups that were never confirmed (their IP and user agent go too)."""
    from newsletter.cli import settings_of

    days = older_than or settings_of(ctx).purge_pending_days
    database = _open(ctx)
    try:
        purged = database.store.purge_pending(dt.timedelta(days=days))
    finally:
        database.close()
    typer.echo(f"purged {purged} pending signups older than {days} days")


@subscribers_app.command("export-data")
def export_data(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="the person's address")],
) -> None:
    """Print everything held about one person as JSON, consent events included (a subject access request)."""
    from newsletter.privacy import export_data as collect

    database = _open(ctx)
    try:
        data = collect(database, email)
    finally:
        database.close()
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@subscribers_app.command("erase")
def erase(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="the person's address")],
) -> None:
    """Remove a person's data; a hash of the address stays so it cannot be re-added without fresh consent."""
    from newsletter.privacy import erase as forget

    database = _open(ctx)
    try:
        held = forget(database, email, Consent(source="cli:erase"))
    finally:
        database.close()
    typer.echo(
        "erased; the address is suppressed"
        if held
        else "no subscriber with this address; the address is suppressed from now on"
    )
