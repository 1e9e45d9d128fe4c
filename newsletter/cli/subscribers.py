"""``newsletter subscribers …``: the list from the command line, every subcommand registered here.

add, import, export and count work on the list; show tells one address's history; purge-pending,
export-data and erase are the privacy side (what a person may ask of us).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.common import database_of, settings_of
from newsletter.errors import NewsletterError

subscribers_app = typer.Typer(help="Manage the list.", no_args_is_help=True)


@subscribers_app.command()
def add(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="the address")],
    name: Annotated[str, typer.Option(help="display name")] = "",
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="you hold their consent: add as confirmed")
    ] = False,
) -> None:
    """Add one address (pending unless --confirmed)."""
    from subscribers.models import Status
    from subscribers.store import Consent

    database = database_of(ctx)
    try:
        subscriber = database.store.add(
            email,
            name,
            status=Status.confirmed if confirmed else Status.pending,
            consent=Consent(source="cli"),
        )
    finally:
        database.close()
    typer.echo(f"added {subscriber.email} ({subscriber.status})")


@subscribers_app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="CSV with a header row and an 'email' column (optional 'name')")
    ],
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="you hold their consent: add as confirmed")
    ] = False,
    encoding: Annotated[
        str | None,
        typer.Option(help="the file's encoding (e.g. cp1252, latin-1); default: detected"),
    ] = None,
) -> None:
    """Import a CSV; every bad row is reported with its line number, the good rows are written."""
    from subscribers.importer import import_csv
    from subscribers.models import Status
    from subscribers.store import Consent

    database = database_of(ctx)
    try:
        report = import_csv(
            database.store,
            file,
            status=Status.confirmed if confirmed else Status.pending,
            consent=Consent(source=f"import:{file.name}"),
            encoding=encoding,
        )
    finally:
        database.close()
    if report.encoding_guessed:
        typer.echo(f"{file}: not UTF-8; read as {report.encoding} (detected)", err=True)
    for error in report.errors:
        typer.echo(f"{file}:{error.line}: {error.value!r}: {error.reason}", err=True)
    typer.echo(
        f"added {report.added}, already listed {report.already_listed}, "
        f"duplicates in file {report.duplicates_in_file}, bad rows {len(report.errors)}"
    )
    if report.errors:
        raise typer.Exit(3)


@subscribers_app.command()
def export(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option(help="write to this file (default: stdout)")] = None,
) -> None:
    """Export every subscriber as CSV (email, name, status, created_at, confirmed_at)."""
    from subscribers.importer import export_csv

    database = database_of(ctx)
    try:
        if out is None:
            export_csv(database.store, sys.stdout)
        else:
            with open(out, "w", encoding="utf-8", newline="") as handle:
                count = export_csv(database.store, handle)
            typer.echo(f"exported {count} subscribers to {out}", err=True)
    finally:
        database.close()


@subscribers_app.command()
def count(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """How many subscribers are in each state."""
    database = database_of(ctx)
    try:
        counts = database.store.count_by_status()
    finally:
        database.close()
    if as_json:
        typer.echo(json.dumps(counts))
    else:
        for status, number in counts.items():
            typer.echo(f"{status:>13}: {number}")


@subscribers_app.command("show")
def show_command(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="the subscriber's address")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """One address's history: status, consent evidence, feedback and deliveries."""
    from newsletter.feedback.stats import history
    from subscribers.validation import normalise_email

    database = database_of(ctx)
    try:
        story = history(database.sessions, normalise_email(email))
    finally:
        database.close()
    if story is None:
        raise NewsletterError(f"{email} is not on the list")
    if as_json:
        typer.echo(json.dumps(story))
        return
    typer.echo(f"{story['email']} (#{story['id']}): {story['status']}")
    for event in story["events"]:
        where = ", ".join(x for x in (event["ip"], event["user_agent"]) if x)
        typer.echo(
            f"  {event['at']}  {event['kind']:<13} {event['source']}"
            + (f" [{where}]" if where else "")
            + (f"  {event['detail']}" if event["detail"] else "")
        )
    for item in story["feedback"]:
        typer.echo(
            f"  {item['at']}  feedback {item['kind']} via {item['source']} {item['status']} "
            f"{item['reason'] or '-'} ({item['fault'] or 'no fault'}) {item['diagnostic'][:120]}"
        )
    for item in story["deliveries"]:
        typer.echo(f"  delivery {item['edition']}: {item['status']} at {item['at']}")


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
    days = older_than or settings_of(ctx).purge_pending_days
    database = database_of(ctx)
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
    from newsletter.readers.privacy import export_data as collect

    database = database_of(ctx)
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
    from newsletter.readers.privacy import erase as forget
    from subscribers.store import Consent

    database = database_of(ctx)
    try:
        held = forget(database, email, Consent(source="cli:erase"))
    finally:
        database.close()
    typer.echo(
        "erased; the address is suppressed"
        if held
        else "no subscriber with this address; the address is suppressed from now on"
    )
