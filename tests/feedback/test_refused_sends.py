"""End to end over real SMTP (tests/support/smtp_server.py), the whole send as the command wires it: a
receiving domain that refuses *us* (550 5.7.26) pauses the send and suppresses nobody; one whose
mailboxes do not exist (550 5.1.1) suppresses exactly those subscribers and the send goes on."""

from __future__ import annotations

from sqlalchemy import select

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.links import Links
from newsletter.dispatch.parallel import send_edition
from newsletter.edition.digest import Digest
from newsletter.edition.stored import EditionStatus
from newsletter.feedback.records import FeedbackRecord
from newsletter.feedback.stats import edition_stats
from subscribers import Status
from tests.support.feedback_helpers import prepared, subscribe
from tests.support.smtp_server import Faults, SmtpServer

DMARC = (
    "550 5.7.26 Unauthenticated email from example.org is not accepted due to domain's DMARC policy. "
    "Please contact the administrator of example.org domain if this was a legitimate mail."
)


def readers(domain: str, count: int) -> list[str]:
    return [f"reader{index}@{domain}" for index in range(count)]


def smtp(settings: Settings, server: SmtpServer) -> Settings:
    return settings.replace(transport="smtp", smtp_url=server.url, smtp_concurrency=2, smtp_timeout=10)


def test_a_domain_refusing_us_pauses_the_send_and_suppresses_nobody(
    database: Database, settings: Settings, sample_digest: Digest
) -> None:
    everyone = [
        a
        for pair in zip(readers("fine.example", 30), readers("strict.example", 30), strict=True)
        for a in pair
    ]
    ids = subscribe(database, *everyone)
    faults = Faults(data_reply=lambda address: DMARC if address.endswith("@strict.example") else None)
    with SmtpServer(faults) as server:
        config = smtp(settings, server)
        summary = send_edition(config, database, Links(config), prepared(database, config, sample_digest))
        delivered = {m.rcpt_tos[0] for m in server.messages}

    assert summary.stopped.startswith("receivers refused us: strict.example refused")
    assert "(authfailure)" in summary.stopped and "5.7.26" in summary.stopped
    (edition,) = database.ledger.editions()
    assert database.ledger.edition_status(edition.id) is EditionStatus.paused
    assert {database.store.get(ids[a]).status for a in everyone} == {Status.confirmed}
    assert delivered and all(a.endswith("@fine.example") for a in delivered)
    assert len(delivered) < 30  # it stopped part of the way through the list
    with database.sessions() as session:
        rows = session.execute(select(FeedbackRecord.reason, FeedbackRecord.fault)).all()
    assert 5 <= len(rows) < 30 and set(rows) == {("authfailure", "sender")}
    figures = edition_stats(database.sessions, edition)
    assert figures["refused"] == {"authfailure": len(rows)}
    assert figures["bounced"]["hard"] == figures["bounced"]["soft"] == 0


def test_a_domain_without_those_mailboxes_suppresses_exactly_them(
    database: Database, settings: Settings, sample_digest: Digest
) -> None:
    gone, fine = readers("gone.example", 8), readers("fine.example", 24)
    ids = subscribe(database, *fine, *gone)
    faults = Faults(permanent=lambda address: address.endswith("@gone.example"))
    with SmtpServer(faults) as server:
        config = smtp(settings, server)
        summary = send_edition(config, database, Links(config), prepared(database, config, sample_digest))
        delivered = {m.rcpt_tos[0] for m in server.messages}

    assert summary.stopped == "" and (summary.accepted, summary.bounced) == (24, 8)
    (edition,) = database.ledger.editions()
    assert database.ledger.edition_status(edition.id) is EditionStatus.sent
    assert delivered == set(fine)
    states = {a: database.store.get(ids[a]).status for a in fine + gone}
    assert {a for a, s in states.items() if s is Status.bounced} == set(gone)
    assert {s for a, s in states.items() if a in fine} == {Status.confirmed}
    with database.sessions() as session:
        reasons = set(session.execute(select(FeedbackRecord.reason, FeedbackRecord.fault)).all())
    assert reasons == {("userunknown", "recipient")}
