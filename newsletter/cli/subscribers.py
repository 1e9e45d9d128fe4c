"""``newsletter subscribers …``: the list from the command line (add, import, export, count)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from newsletter.database import open_database
from subscribers.importer import export_csv, import_csv
from subscribers.models import Status
from subscribers.store import Consent

app = typer.Typer(no_args_is_help=True)


def _database(ctx: typer.Context):  # type: ignore[no-untyped-def]
    from newsletter.cli import settings_of

    return open_database(settings_of(ctx))


@app.command()
def add(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="the address")],
    name: Annotated[str, typer.Option(help="display name")] = "",
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="you hold their consent: add as confirmed")
    ] = False,
) -> None:
    """Add one address (pending unless --confirmed)."""
    database = _database(ctx)
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


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="CSV with a header row and an 'email' column (optional 'name')")
    ],
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="you hold their consent: add as confirmed")
    ] = False,
) -> None:
    """Import a CSV; every bad row is reported with its line number, the good rows are written."""
    database = _database(ctx)
    try:
        report = import_csv(
            database.store,
            file,
            status=Status.confirmed if confirmed else Status.pending,
            consent=Consent(source=f"import:{file.name}"),
        )
    finally:
        database.close()
    for error in report.errors:
        typer.echo(f"{file}:{error.line}: {error.value!r}: {error.reason}", err=True)
    typer.echo(
        f"added {report.added}, already listed {report.already_listed}, "
        f"duplicates in file {report.duplicates_in_file}, bad rows {len(report.errors)}"
    )
    if report.errors:
        raise typer.Exit(3)


@app.command()
def export(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option(help="write to this file (default: stdout)")] = None,
) -> None:
    """Export every subscriber as CSV (email, name, status, created_at, confirmed_at)."""
    database = _database(ctx)
    try:
        if out is None:
            export_csv(database.store, sys.stdout)
        else:
            with open(out, "w", encoding="utf-8", newline="") as handle:
                count = export_csv(database.store, handle)
            typer.echo(f"exported {count} subscribers to {out}", err=True)
    finally:
        database.close()


@app.command()
def count(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """How many subscribers are in each state."""
    database = _database(ctx)
    try:
        counts = database.store.count_by_status()
    finally:
        database.close()
    if as_json:
        typer.echo(json.dumps(counts))
    else:
        for status, number in counts.items():
            typer.echo(f"{status:>13}: {number}")
