"""``newsletter send``: the editor's one command (``python send.py DIGEST`` is the same thing).

It says what it is about to do and asks before a real send; ``--yes`` skips the question, and with no
terminal on stdin it refuses rather than wait for an answer that cannot come.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from newsletter.database import open_database
from newsletter.digest import load_digest
from newsletter.edition import edition_key, prepare_edition
from newsletter.errors import SendRefused
from newsletter.links import Links
from newsletter.render import Renderer
from newsletter.sending import Sender
from newsletter.transports import open_transport
from subscribers.validation import normalise_email


def send_command(
    ctx: typer.Context,
    digest: Annotated[Path, typer.Argument(help="digest file (.yaml or .json)")],
    transport: Annotated[str | None, typer.Option(help="outbox, smtp, sendgrid or discard")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="render and count; send nothing")] = False,
    test: Annotated[list[str] | None, typer.Option("--test", help="send only to this address (repeatable)")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Render DIGEST once and send it to every confirmed subscriber who has not had it yet."""
    from newsletter.cli import settings_of

    settings = settings_of(ctx)
    if transport is not None:
        settings = settings.replace(transport=transport)
    err = Console(stderr=True, highlight=False)
    parsed = load_digest(digest)
    links = Links(settings)  # refuses early when no secret is configured
    database = open_database(settings)
    try:
        renderer = Renderer(settings.templates_dir)
        if dry_run:
            rendered = renderer.render_edition(parsed, settings)
            summary = {"edition": edition_key(parsed), "subject": rendered.subject, "dry_run": True,
                       "recipients": database.store.count_confirmed(), "transport": settings.transport,
                       "html_bytes": len(rendered.html.encode()), "text_bytes": len(rendered.text.encode())}
            _report(summary, as_json)
            return
        addresses = [normalise_email(a) for a in test or []]
        prepared = prepare_edition(parsed, renderer, database.ledger, settings)

        def sender() -> Sender:  # opened only once the send is certain: no folder, no connection before
            return Sender(settings=settings, store=database.store, ledger=database.ledger,
                          transport=open_transport(settings), links=links)

        if addresses:
            results = sender().send_test(prepared, addresses)
            _report({"edition": prepared.edition.key, "test": True, "transport": settings.transport,
                     "results": [{"email": a, "outcome": str(r.outcome), "detail": r.detail}
                                 for a, r in zip(addresses, results, strict=True)]}, as_json)
            return
        total = database.store.count_confirmed()
        already = sum(database.ledger.counts(prepared.edition.id)[s] for s in ("accepted", "failed", "bounced"))
        err.print(f"Edition   {prepared.edition.key}: {prepared.edition.subject}")
        err.print(f"Recipients {total} confirmed ({already} already have it)")
        err.print(f"Transport {settings.transport}" + (f" -> {settings.outbox_dir}" if settings.transport == "outbox" else ""))
        if not yes:
            if not sys.stdin.isatty():
                raise SendRefused("no terminal to confirm on: pass --yes to send without asking")
            typer.confirm("Send now?", abort=True)
        with Progress(TextColumn("sending"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[rate]:>8.0f}/s"), TimeElapsedColumn(), console=err,
                      transient=as_json) as bar:
            task = bar.add_task("send", total=total, rate=0.0)

            def progress(done: int, of: int) -> None:
                elapsed = bar.tasks[0].elapsed or 0.0
                bar.update(task, completed=done, total=of, rate=done / elapsed if elapsed else 0.0)

            result = sender().send(prepared, progress)
        _report(result.as_dict(), as_json)
        if settings.transport == "outbox" and not as_json:
            err.print(f"The messages are in {settings.outbox_dir.resolve()}/ (one .eml per subscriber).")
    finally:
        database.close()


def _report(summary: dict[str, object], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary))
        return
    for key, value in summary.items():
        typer.echo(f"{key:>13}: {value}")
