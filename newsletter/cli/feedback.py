"""``newsletter bounces classify|process`` and ``newsletter stats``.

``bounces classify`` needs no database: it reads files and says what they are, one line per recipient
a report speaks about: file, recipient, status, reason (the vocabulary of ``feedback/reasons.py``),
kind (hard, soft, complaint, unsubscribe, auto-reply, delivered, or not-a-bounce for a file that is
none of these), whose fault (recipient, sender, network) and the policy action. ``bounces process`` reads a
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

CLASSIFY_FIELDS = ("file", "recipient", "status", "reason", "kind", "fault", "action")
bounces_app = typer.Typer(help="Read bounces, complaints and unsubscribe requests.", no_args_is_help=True)


def _line(name: str, kind: str, detail: str, **fields: str) -> dict[str, Any]:
    from newsletter.feedback.reasons import ACTION_TEXT, Action

    return {
        "file": name,
        "recipient": "",
        "status": "",
        "reason": "",
        "kind": kind,
        "fault": "",
        "action": ACTION_TEXT[Action.record] if kind != "not-a-bounce" else "none",
        "detail": detail,
        **fields,
    }


def classify_file(path: Path) -> list[dict[str, Any]]:
    """The classify lines for one file (shared by the command and the corpus accuracy tests)."""
    from newsletter.feedback.dsn import parse_report
    from newsletter.feedback.events import MalformedFeedback
    from newsletter.feedback.reasons import ACTION_TEXT, Action

    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise NewsletterError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        report = parse_report(raw)
    except MalformedFeedback as exc:
        return [_line(name, "not-a-bounce", f"refused: {exc}")]
    if not report.failures:
        return [_line(name, "not-a-bounce", report.reason)]
    lines = []
    for f in report.failures:
        action = ACTION_TEXT[Action(f.action)] if f.action else ACTION_TEXT[Action.record]
        if f.kind == "unsubscribe":
            action = "unsubscribe"
        elif f.temporary:
            action += " (delayed, still trying)"
        lines.append(
            {
                "file": name,
                "recipient": f.recipient,
                "status": f.status,
                "reason": f.reason,
                "kind": f.kind,
                "fault": f.fault,
                "action": action,
                "detail": f.diagnostic[:300] or report.reason,
            }
        )
    return lines


@bounces_app.command("classify")
def classify_command(
    files: Annotated[list[Path], typer.Argument(help="message files (.eml, one message each)")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON line per recipient")] = False,
) -> None:
    """Say what each message is: recipient, status, reason, kind, whose fault, and what the policy does."""
    for path in files:
        for line in classify_file(path):
            if as_json:
                typer.echo(json.dumps({k: line[k] for k in (*CLASSIFY_FIELDS, "detail")}))
            else:
                typer.echo(
                    f"{line['file']}: {line['recipient'] or '-'}  {line['status'] or '-':<7} "
                    f"{line['reason'] or '-':<15} {line['kind']:<12} {line['fault'] or '-':<9} "
                    f"{line['action']}"
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
    from newsletter.feedback.stats import edition_stats, recipients, refused_text

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
            if row["refused"]:
                typer.echo(f"  {refused_text(row['refused'])}")
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
