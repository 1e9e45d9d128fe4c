"""``newsletter bounces classify|process`` and ``newsletter stats``.

``bounces classify`` needs no database: it reads files and says what they are, one JSON line per
failed recipient (``{"file", "recipient", "kind", "status", "reason"}``, kind hard, soft, complaint or
unsubscribe; one line of kind ``none`` for a file that is not a bounce). ``bounces process`` reads a
mailbox and applies what it finds. Errors end as one line on stderr (``cli.main`` catches them).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from newsletter.cli.common import database_of, settings_of
from newsletter.errors import NewsletterError

CLASSIFY_FIELDS = ("file", "recipient", "kind", "status", "reason")
bounces_app = typer.Typer(help="Read bounces, complaints and unsubscribe requests.", no_args_is_help=True)


def classify_file(path: Path) -> list[dict[str, Any]]:
    """The classify lines for one file (shared by the command and the corpus accuracy tests)."""
    from newsletter.feedback.dsn import parse_report
    from newsletter.feedback.events import MalformedFeedback

    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise NewsletterError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        report = parse_report(raw)
    except MalformedFeedback as exc:
        return [{"file": name, "recipient": "", "kind": "none", "status": "", "reason": f"refused: {exc}"}]
    if not report.failures:
        return [{"file": name, "recipient": "", "kind": "none", "status": "", "reason": report.reason}]
    return [
        {
            "file": name,
            "recipient": f.recipient,
            "kind": f.kind,
            "status": f.status,
            "reason": f.reason + (" (delayed, still trying)" if f.temporary else ""),
            **({"diagnostic": f.diagnostic[:300]} if f.diagnostic else {}),
        }
        for f in report.failures
    ]


@bounces_app.command("classify")
def classify_command(
    files: Annotated[list[Path], typer.Argument(help="message files (.eml, one message each)")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON line per recipient")] = False,
) -> None:
    """Say what each message is: which recipients failed, hard or soft, with the status and reason."""
    for path in files:
        for line in classify_file(path):
            if as_json:
                typer.echo(json.dumps({k: line[k] for k in CLASSIFY_FIELDS}))
            else:
                typer.echo(
                    f"{line['file']}: {line['kind']:<9} {line['status']:<7} "
                    f"{line['recipient'] or '-'}  {line['reason']}"
                )


@bounces_app.command("process")
def process_command(
    ctx: typer.Context,
    mbox: Annotated[Path | None, typer.Option(help="an mbox file")] = None,
    maildir: Annotated[Path | None, typer.Option(help="a Maildir folder")] = None,
    imap: Annotated[str | None, typer.Option(help="imap[s]://user:password@host[:port]/FOLDER")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines: each message, then a summary")] = False,
) -> None:
    """Apply the bounces, complaints and unsubscribe requests in a mailbox; keep what is not understood."""
    from newsletter.database import open_database
    from newsletter.feedback.mailbox import open_source, process

    settings = settings_of(ctx)
    database = open_database(settings)
    try:
        source = open_source(settings, mbox=mbox, maildir=maildir, imap=imap)
        try:
            handled = process(source, settings, database)
        finally:
            source.close()  # unlocks an mbox, expunges and logs out of IMAP
    finally:
        database.close()
    totals = Counter(h.outcome for h in handled)
    for item in handled:
        typer.echo(
            json.dumps(item.as_dict()) if as_json else f"{item.outcome:<9} {item.message}: {item.detail}"
        )
    summary = {
        "messages": len(handled),
        **{k: totals.get(k, 0) for k in ("applied", "duplicate", "ignored", "kept")},
    }
    typer.echo(json.dumps(summary) if as_json else ", ".join(f"{k} {v}" for k, v in summary.items()))


def stats_command(
    ctx: typer.Context,
    edition: Annotated[str | None, typer.Argument(help="edition key (default: every edition)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    who: Annotated[bool, typer.Option("--recipients", help="also list who got what (one line each)")] = False,
) -> None:
    """Per edition: sent, delivered, bounced (hard/soft), complained, unsubscribed."""
    from newsletter.feedback.stats import edition_stats, recipients

    database = database_of(ctx)
    try:
        editions = database.ledger.editions()
        if edition is not None:
            editions = [e for e in editions if e.key == edition]
            if not editions:
                raise NewsletterError(f"no edition {edition!r}; `newsletter stats` lists them")
        report = [edition_stats(database.sessions, e) for e in editions]
        if as_json:
            typer.echo(json.dumps(report if edition is None else report[0]))
        for row in [] if as_json else report:
            bounced = row["bounced"]
            typer.echo(
                f"{row['edition']} [{row['status']}]: sent {row['sent']}, "
                f"delivered {row['delivered']}, "
                f"bounced {bounced['hard']} hard / {bounced['soft']} soft, "
                f"complained {row['complained']}, unsubscribed {row['unsubscribed']}"
            )
        if who:
            for item in editions:
                for line in recipients(database.sessions, item.id):
                    if as_json:
                        typer.echo(json.dumps({"edition": item.key, **line}))
                    else:
                        extra = f" ({', '.join(line['feedback'])})" if line["feedback"] else ""
                        typer.echo(f"  {item.key} {line['email']}: {line['delivery']}{extra}")
    finally:
        database.close()
