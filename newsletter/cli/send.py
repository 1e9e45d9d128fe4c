"""``newsletter send``: the editor's one command (``python send.py DIGEST`` is the same thing).

It says what it is about to do and asks before a real send; ``--yes`` skips the question, and with no
terminal on stdin it refuses rather than wait for an answer that cannot come. An edition whose send was
interrupted (a crash, ``newsletter pause``, the error threshold) is only continued with ``--resume``, so
nobody restarts a paused send by accident; ``--at`` stores the edition and leaves the sending to
``newsletter run-due`` (cron).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli.common import report, settings_of
from newsletter.cli.terminal import progress, say
from newsletter.errors import SendRefused, TransportError

if TYPE_CHECKING:  # the stages are imported where they are used, so `send --help` imports none of them
    from newsletter.config import Settings
    from newsletter.database import Database
    from newsletter.delivery.links import Links
    from newsletter.delivery.prepare import PreparedEdition
    from newsletter.delivery.send_run import SendSummary
    from newsletter.edition.digest import Digest, LocatedDigest
    from newsletter.edition.render import Renderer
    from newsletter.edition.stored import EditionStatus

EXIT_STOPPED = 3
"""Exit status of a send that stopped before the end (paused, threshold, cancelled): scripts can tell."""


def parse_at(value: str, now: dt.datetime | None = None) -> dt.datetime:
    """``2026-12-01 07:00`` (local time unless an offset is given) -> an aware UTC time in the future."""
    try:
        at = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise SendRefused(f'--at {value!r}: use a date and time like "2026-12-01 07:00"') from None
    at = at.astimezone(dt.UTC)  # a naive time is taken as this machine's local time
    if at <= (now or dt.datetime.now(dt.UTC)):
        raise SendRefused(f"--at {value!r} is in the past; leave --at out to send now")
    return at


def run_send(
    settings: Settings, database: Database, links: Links, prepared: PreparedEdition, as_json: bool
) -> SendSummary:
    """The send, its progress shown on stderr (``terminal.progress``); the transports are closed after."""
    from newsletter.dispatch.parallel import send_edition

    with progress(database.store.count_confirmed(), quiet=as_json) as shown:
        return send_edition(settings, database, links, prepared, shown)


def report_stopped(summary: SendSummary, resume_hint: str) -> None:
    stop = summary.stop
    if stop is None and summary.next_retry_at is not None:
        say(
            f"deferred: {summary.deferred}, next retry at "
            f"{summary.next_retry_at.astimezone().isoformat(timespec='seconds')}: "
            "`newsletter run-due` (cron, a systemd timer, or a worker with --beat) sends them when due"
        )
    if stop is None:
        return
    say(str(stop), lead="send stopped:", style="bold yellow")
    if stop.reason.resumable:
        say(f"Nothing is lost: {summary.deferred} deliveries wait in the ledger. {resume_hint}")


def send_command(
    ctx: typer.Context,
    digest: Annotated[Path, typer.Argument(help="digest file (.yaml or .json)")],
    transport: Annotated[str | None, typer.Option(help="outbox, smtp, sendgrid or discard")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="render and count; send nothing")] = False,
    test: Annotated[
        list[str] | None, typer.Option("--test", help="send only to this address (repeatable)")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="continue an interrupted or paused send")] = False,
    at: Annotated[str | None, typer.Option("--at", help='schedule: "2026-12-01 07:00" (local time)')] = None,
    distributed: Annotated[
        bool, typer.Option("--distributed", help="enqueue batches for `newsletter worker`s; return at once")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="send even when preflight finds errors")] = False,
) -> None:
    """Render DIGEST once and send it to every confirmed subscriber who has not had it yet."""
    from newsletter.database import open_database
    from newsletter.delivery.links import Links
    from newsletter.delivery.prepare import prepare_edition
    from newsletter.edition.digest import load_located_digest
    from newsletter.edition.render import Renderer
    from subscribers.validation import normalise_email

    settings = settings_of(ctx)
    if transport is not None:
        settings = settings.replace(transport=transport)
    located = load_located_digest(digest)
    parsed = located.digest
    links = Links(settings)  # refuses early when no secret is configured
    scheduled = parse_at(at) if at is not None else None
    addresses = [normalise_email(a) for a in test or []]
    database = open_database(settings)
    try:
        renderer = Renderer(settings.templates_dir)
        if dry_run:
            dry_run_send(settings, database, renderer, parsed, as_json)
            return
        if not addresses:
            gate(settings, database, located, renderer, str(digest), force=force)
        prepared = prepare_edition(parsed, renderer, database.ledger, settings)
        if addresses:
            test_send(settings, database, links, prepared, addresses, as_json)
            return
        status = database.ledger.edition_status(prepared.edition.id)
        _check_status(settings, database, prepared, status, resume, str(digest))
        if scheduled is not None:
            schedule_send(settings, database, prepared, status, scheduled, as_json)
            return
        if distributed:
            distributed_send(settings, database, prepared, yes=yes, as_json=as_json)
            return
        real_send(settings, database, links, prepared, str(digest), yes=yes, as_json=as_json)
    finally:
        database.close()


def gate(
    settings: Settings,
    database: Database,
    located: LocatedDigest,
    renderer: Renderer,
    digest: str,
    *,
    force: bool,
) -> None:
    """Preflight before every real send (and schedule); errors stop it before anything is stored.

    A send that has already started is resumed without it: what some readers got, all of them get.
    """
    from newsletter.cli.review import print_findings
    from newsletter.edition.digest import edition_key
    from newsletter.review.findings import Severity, has_errors
    from newsletter.review.preflight import run_preflight

    stored = database.ledger.find_edition(edition_key(located.digest))
    if stored is not None and stored.started_at is not None:
        return
    findings = run_preflight(settings, located, renderer=renderer)
    if any(f.severity is not Severity.note for f in findings):
        print_findings(f"preflight of {digest}", findings)
    if not has_errors(findings):
        return
    if force:
        say("sending despite the errors above", lead="--force:", style="bold yellow")
        return
    raise SendRefused(
        f"preflight found {sum(f.severity is Severity.error for f in findings)} error(s) in {digest}; "
        "fix them (see above, or `newsletter preflight` for details) or pass --force to send anyway"
    )


def dry_run_send(
    settings: Settings, database: Database, renderer: Renderer, digest: Digest, as_json: bool
) -> None:
    """Render and count; nothing is stored and nothing is sent."""
    from newsletter.edition.digest import edition_key

    rendered = renderer.render_edition(digest, settings)
    report(
        {
            "edition": edition_key(digest),
            "subject": rendered.subject,
            "dry_run": True,
            "recipients": database.store.count_confirmed(),
            "transport": settings.transport,
            "html_bytes": len(rendered.html.encode()),
            "text_bytes": len(rendered.text.encode()),
        },
        as_json,
    )


def test_send(
    settings: Settings,
    database: Database,
    links: Links,
    prepared: PreparedEdition,
    addresses: list[str],
    as_json: bool,
) -> None:
    """Send only to the given addresses; the ledger does not count it as the real delivery."""
    from newsletter.dispatch.parallel import build_sender

    sender = build_sender(settings, database, links)
    try:
        results = sender.send_test(prepared, addresses)
    finally:
        sender.close()
    report(
        {
            "edition": prepared.edition.key,
            "test": True,
            "transport": settings.transport,
            "results": [
                {"email": a, "outcome": str(r.outcome), "detail": r.detail}
                for a, r in zip(addresses, results, strict=True)
            ],
        },
        as_json,
    )


def schedule_send(
    settings: Settings,
    database: Database,
    prepared: PreparedEdition,
    status: EditionStatus | None,
    at: dt.datetime,
    as_json: bool,
) -> None:
    """Store the edition with a time; ``newsletter run-due`` sends it then."""
    from newsletter.edition.stored import EditionStatus

    edition = prepared.edition
    if status is not EditionStatus.draft:
        raise SendRefused(f"edition {edition.key} is {status}; only an edition not yet sent can be scheduled")
    database.ledger.schedule(edition.id, at, settings.transport)
    report({"edition": edition.key, "scheduled_at": at.isoformat(), "transport": settings.transport}, as_json)
    if not as_json:
        say("`newsletter run-due` (run it from cron, e.g. every minute) sends it when due.")


def real_send(
    settings: Settings,
    database: Database,
    links: Links,
    prepared: PreparedEdition,
    digest: str,
    *,
    yes: bool,
    as_json: bool,
) -> None:
    """Say what is about to happen, ask (unless --yes), send with a progress bar, report."""
    edition = prepared.edition
    total = database.store.count_confirmed()
    already = sum(database.ledger.counts(edition.id)[s] for s in ("accepted", "failed", "bounced"))
    say(f"Edition   {edition.key}: {edition.subject}")
    say(f"Recipients {total} confirmed ({already} already have it)")
    where = f" -> {settings.outbox_dir}" if settings.transport == "outbox" else ""
    say(f"Transport {settings.transport}{where}")
    if not yes:
        if not sys.stdin.isatty():
            raise SendRefused("no terminal to confirm on: pass --yes to send without asking")
        typer.confirm("Send now?", abort=True)
    try:
        result = run_send(settings, database, links, prepared, as_json)
    except TransportError as exc:  # the Sender paused the edition; say so and how to go on
        raise TransportError(
            f"{exc}. The send is paused and nothing is lost: fix the cause, then run "
            f"`newsletter send {digest} --resume`"
        ) from None
    report(result.as_dict(), as_json)
    report_stopped(result, f"Continue with: newsletter send {digest} --resume")
    if settings.transport == "outbox" and not as_json and result.stop is None:
        say(f"The messages are in {settings.outbox_dir.resolve()}/ (one .eml per subscriber).")
    if result.stop is not None:
        raise typer.Exit(EXIT_STOPPED)


def distributed_send(
    settings: Settings, database: Database, prepared: PreparedEdition, *, yes: bool, as_json: bool
) -> None:
    """Plan the batches and put them on the broker; the workers send, the ledger shows the progress."""
    from newsletter.dispatch.celery_app import broker_problem, make_celery
    from newsletter.dispatch.distributed import start

    problem = broker_problem(settings)
    if problem:
        raise SendRefused(f"{problem}; nothing was enqueued")
    total = database.store.count_confirmed()
    say(f"Edition   {prepared.edition.key}: {prepared.edition.subject}")
    say(f"Recipients {total} confirmed, sent by the workers on queue {settings.worker_queue!r}")
    if not yes:
        if not sys.stdin.isatty():
            raise SendRefused("no terminal to confirm on: pass --yes to send without asking")
        typer.confirm("Enqueue the send now?", abort=True)
    enqueued = start(settings, database, prepared, make_celery(settings))
    report(enqueued.as_dict(), as_json)
    if not as_json:
        say(f"Follow it with: newsletter stats {prepared.edition.key} --follow")


def _check_status(
    settings: Settings,
    database: Database,
    prepared: PreparedEdition,
    status: EditionStatus | None,
    resume: bool,
    digest: str,
) -> None:
    """Refuse what must not start: a cancelled edition, a send running elsewhere, an unasked resume."""
    from newsletter.dispatch.whereabouts import Whereabouts, whereabouts
    from newsletter.edition.stored import EditionStatus

    key = prepared.edition.key
    if status is EditionStatus.cancelled:
        raise SendRefused(f"edition {key} was cancelled; send it under a new date or issue name")
    if status is EditionStatus.sending:
        found = whereabouts(database, prepared.edition.id, settings.lease_seconds)
        if found.state is Whereabouts.running:
            raise SendRefused(
                f"the send of edition {key} {found.text}. Pause it with `newsletter pause {key}`"
            )
        if not resume:
            raise SendRefused(
                f"the send of edition {key} {found.text}: continue it with "
                f"`newsletter send {digest} --resume` (nobody gets it twice)"
            )
    if status is EditionStatus.paused and not resume:
        raise SendRefused(
            f"the send of edition {key} was paused: continue it with "
            f"`newsletter send {digest} --resume` (nobody gets it twice)"
        )
