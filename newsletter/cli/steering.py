"""``newsletter pause``, ``newsletter cancel`` and ``newsletter run-due``: steering sends from outside.

Pause and cancel only change the edition's status in the ledger; the running send reads it between
messages (at most once a second), lets the messages in flight finish, records them, and stops. So the
commands work from another terminal, another machine, or cron, with no signal or lock file involved.

``run-due`` is for cron: it sends every scheduled edition whose time has come, from the edition stored
at scheduling time (no digest file needed). It claims each edition with one atomic status change, so two
overlapping cron runs never send the same edition twice.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli.common import database_of, settings_of
from newsletter.errors import SendRefused

if TYPE_CHECKING:  # the stages are imported where they are used, so `--help` imports none of them
    from newsletter.delivery.ledger import Ledger
    from newsletter.edition.stored import Edition


def _edition(ledger: Ledger, key: str) -> Edition:
    edition = ledger.find_edition(key)
    if edition is None:
        raise SendRefused(f"no edition {key!r}; `newsletter stats` lists them")
    return edition


def pause_command(
    ctx: typer.Context,
    edition: Annotated[str, typer.Argument(help="edition key, e.g. 2011-07-11-weekly-highlights")],
) -> None:
    """Pause a running or scheduled send; `newsletter send DIGEST --resume` continues it."""
    from rich.console import Console

    from newsletter.edition.stored import EditionStatus

    database = database_of(ctx)
    try:
        found = _edition(database.ledger, edition)
        if not database.ledger.transition_edition(
            found.id, (EditionStatus.sending, EditionStatus.draft), EditionStatus.paused
        ):
            raise SendRefused(
                f"edition {edition} is {database.ledger.edition_status(found.id)}; "
                "only a running or scheduled send can be paused"
            )
    finally:
        database.close()
    Console(stderr=True).print(
        f"paused {edition}: a running send stops after the messages in flight "
        "(within a second or two). Continue with `newsletter send DIGEST --resume`."
    )


def cancel_command(
    ctx: typer.Context,
    edition: Annotated[str, typer.Argument(help="edition key")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
) -> None:
    """Cancel a send for good: nobody else gets this edition (those who did, did)."""
    from rich.console import Console

    from newsletter.edition.stored import EditionStatus

    database = database_of(ctx)
    try:
        found = _edition(database.ledger, edition)
        if not yes:
            typer.confirm(f"Cancel {edition} for good? It can never be resumed.", abort=True)
        allowed = (EditionStatus.draft, EditionStatus.sending, EditionStatus.paused)
        if not database.ledger.transition_edition(found.id, allowed, EditionStatus.cancelled):
            raise SendRefused(
                f"edition {edition} is {database.ledger.edition_status(found.id)}; nothing to cancel"
            )
        counts = database.ledger.counts(found.id)
    finally:
        database.close()
    Console(stderr=True).print(f"cancelled {edition} ({counts['accepted']} had already received it)")


def run_due_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON summary per edition sent")] = False,
) -> None:
    """Send every scheduled edition whose time has come (run it from cron, e.g. every minute)."""
    from rich.console import Console

    from newsletter.cli.send import EXIT_STOPPED, report_stopped, run_send
    from newsletter.database import open_database
    from newsletter.delivery.links import Links
    from newsletter.delivery.prepare import stored_edition
    from newsletter.edition.stored import EditionStatus
    from subscribers.models import utcnow

    settings = settings_of(ctx)
    links = Links(settings)
    database = open_database(settings)
    stopped = False
    try:
        due = database.ledger.due_editions(utcnow())
        if not due and not as_json:
            Console(stderr=True).print("no scheduled send is due")
        for edition in due:
            if not database.ledger.transition_edition(
                edition.id, (EditionStatus.draft,), EditionStatus.sending
            ):
                continue  # another run claimed it first
            edition_settings = settings.replace(transport=edition.transport or settings.transport)
            prepared = stored_edition(edition, edition_settings)
            summary = run_send(edition_settings, database, links, prepared, as_json)
            typer.echo(
                json.dumps(summary.as_dict())
                if as_json
                else f"{edition.key}: {summary.accepted} accepted, {summary.bounced} bounced, "
                f"{summary.failed} failed [{summary.status}]"
            )
            report_stopped(summary, f"Continue with: newsletter send DIGEST --resume (edition {edition.key})")
            stopped = stopped or summary.stop is not None
    finally:
        database.close()
    if stopped:
        raise typer.Exit(EXIT_STOPPED)
