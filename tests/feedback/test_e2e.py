"""End to end: an edition over SMTP to a server that refuses some recipients, bounces and a complaint coming
back by mail, and the next edition skipping exactly the suppressed subscribers."""

from __future__ import annotations

import datetime as dt
import mailbox
from pathlib import Path

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.links import Links
from newsletter.delivery.send_loop import Sender
from newsletter.delivery.transports.smtp import SmtpTransport
from newsletter.edition.digest import Digest
from newsletter.feedback.apply import FeedbackPolicy, send_time_feedback
from newsletter.feedback.mailbox import MaildirSource, process
from subscribers import Status
from tests.support.feedback_helpers import arf, dsn, prepared, subscribe
from tests.support.smtp_server import Faults, SmtpServer

READERS = [f"reader{i}@example.com" for i in range(10)]
REFUSED_AT_RCPT = {"reader1@example.com", "reader2@example.com"}
HARD_DSN, SOFT_DSN, COMPLAINT = "reader3@example.com", "reader4@example.com", "reader5@example.com"


def send(database: Database, settings: Settings, digest: Digest, server: SmtpServer) -> None:
    transport = SmtpTransport(server.url, concurrency=2, timeout=10)
    try:
        Sender(
            settings=settings,
            store=database.store,
            ledger=database.ledger,
            transport=transport,
            links=Links(settings),
            on_permanent=send_time_feedback(FeedbackPolicy(database.sessions, settings)),
        ).send(prepared(database, settings, digest))
    finally:
        transport.close()


def test_the_next_send_skips_exactly_the_suppressed(
    tmp_path: Path, database: Database, settings: Settings, sample_digest: Digest
) -> None:
    ids = subscribe(database, *READERS)
    faults = Faults(permanent=lambda address: address in REFUSED_AT_RCPT)
    with SmtpServer(faults) as server:
        send(database, settings, sample_digest, server)
        first = {m.rcpt_tos[0]: m for m in server.messages}
    assert set(first) == set(READERS) - REFUSED_AT_RCPT
    assert all(database.store.get(ids[a]).status is Status.bounced for a in REFUSED_AT_RCPT)

    # Later, by mail: a DSN to the VERP envelope sender of each delivery, and one ARF complaint.
    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    box.add(dsn(to=first[HARD_DSN].mail_from, recipient=HARD_DSN, message_id="<h@mx>"))
    box.add(
        dsn(
            to=first[SOFT_DSN].mail_from,
            recipient=SOFT_DSN,
            status="4.2.2",
            message_id="<s@mx>",
            diagnostic="smtp; 452 4.2.2 mailbox full",
        )
    )
    box.add(arf(original=first[COMPLAINT].content, recipient=None))
    box.close()
    outcomes = [
        h.outcome for h in process(MaildirSource(tmp_path / "bounces", "processed"), settings, database)
    ]
    assert outcomes == ["applied"] * 3

    suppressed = REFUSED_AT_RCPT | {HARD_DSN, COMPLAINT}
    states = {a: database.store.get(ids[a]).status for a in READERS}
    assert {a for a, s in states.items() if s is not Status.confirmed} == suppressed
    assert states[COMPLAINT] is Status.complained

    next_issue = sample_digest.model_copy(
        update={"issue": "Next week", "date": sample_digest.date + dt.timedelta(days=7)}
    )
    with SmtpServer() as server:
        send(database, settings, next_issue, server)
        second = {m.rcpt_tos[0] for m in server.messages}
    assert second == set(READERS) - suppressed
