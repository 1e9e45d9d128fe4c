"""The policy follows the reason: sender-side refusals never suppress, soft reasons count, auto-replies
and delivery reports change nothing; the same from SMTP replies at send time and from SendGrid."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import select, text

from newsletter.config import Settings
from newsletter.database import Database, alembic_config
from newsletter.delivery.links import Links
from newsletter.delivery.transports.base import Outcome, SendResult
from newsletter.edition.digest import Digest
from newsletter.feedback.apply import FeedbackPolicy, send_time_feedback
from newsletter.feedback.events import FeedbackEvent, FeedbackKind
from newsletter.feedback.records import FeedbackRecord
from newsletter.feedback.sendgrid import to_feedback
from newsletter.feedback.stats import edition_stats, refused_text
from subscribers import Status
from tests.support.feedback_helpers import send_outbox, subscribe


def bounce(subscriber_id: int, edition_id: int | None, key: str, reason: str, **extra: Any) -> FeedbackEvent:
    kind = FeedbackKind.hard_bounce if reason == "userunknown" else FeedbackKind.soft_bounce
    return FeedbackEvent(
        kind=kind,
        source="test",
        dedupe_key=key,
        subscriber_id=subscriber_id,
        edition_id=edition_id,
        reason=reason,
        **extra,
    )


def status(database: Database, subscriber_id: int) -> Status:
    return Status(database.store.get(subscriber_id).status)


def test_refusals_of_the_sender_never_suppress_however_many(database: Database, settings: Settings) -> None:
    reader = subscribe(database, "reader@example.com")["reader@example.com"]
    policy = FeedbackPolicy(database.sessions, settings)
    for index, reason in enumerate(["authfailure", "blocked", "spamdetected", "requireptr", "badreputation"]):
        decision = policy.apply(bounce(reader, None, f"k{index}", reason))
        assert "receivers refused us" in decision.action
    assert status(database, reader) is Status.confirmed


def test_only_the_readers_soft_reasons_count_towards_suppression(
    database: Database, settings: Settings
) -> None:
    reader = subscribe(database, "full@example.com")["full@example.com"]
    policy = FeedbackPolicy(database.sessions, settings.replace(soft_bounce_threshold=3))
    policy.apply(bounce(reader, None, "a", "mailboxfull"))
    policy.apply(bounce(reader, None, "b", "authfailure"))  # ours: not counted
    policy.apply(bounce(reader, None, "c", "speeding"))  # our pace: not counted
    decision = policy.apply(bounce(reader, None, "d", "suspend"))
    assert "soft bounce 2 of 3" in decision.action and status(database, reader) is Status.confirmed
    policy.apply(bounce(reader, None, "e", "filtered"))
    assert status(database, reader) is Status.bounced


def test_a_recipient_permanent_reason_suppresses_even_from_a_soft_kind(
    database: Database, settings: Settings
) -> None:
    reader = subscribe(database, "moved@example.com")["moved@example.com"]
    event = FeedbackEvent(
        kind=FeedbackKind.soft_bounce, source="test", dedupe_key="m", subscriber_id=reader, reason="hasmoved"
    )
    decision = FeedbackPolicy(database.sessions, settings).apply(event)
    assert decision.action.startswith("hard bounce (hasmoved)") and status(database, reader) is Status.bounced


def test_auto_replies_and_delivery_reports_are_recorded_and_change_nothing(
    database: Database, settings: Settings
) -> None:
    reader = subscribe(database, "away@example.com")["away@example.com"]
    policy = FeedbackPolicy(database.sessions, settings)
    for kind, reason in ((FeedbackKind.auto_reply, "vacation"), (FeedbackKind.delivered, "delivered")):
        event = FeedbackEvent(
            kind=kind, source="test", dedupe_key=reason, subscriber_id=reader, reason=reason
        )
        assert policy.apply(event).action == f"recorded ({kind})"
    assert status(database, reader) is Status.confirmed
    with database.sessions() as session:
        rows = session.execute(select(FeedbackRecord.kind, FeedbackRecord.reason)).all()
    assert (
        sorted(rows) == [(FeedbackKind.delivered, "delivered"), (FeedbackKind.auto_reply, "vacation")][::-1]
    )


def test_smtp_replies_at_send_time_are_decided_by_their_reason(
    database: Database, settings: Settings
) -> None:
    ids = subscribe(database, "dmarc@example.com", "gone@example.com")
    handle = send_time_feedback(FeedbackPolicy(database.sessions, settings))
    dmarc = "550 5.7.26 Unauthenticated email from example.org is not accepted due to domain's DMARC policy"
    handle(3, SendResult(ids["dmarc@example.com"], Outcome.permanent, detail=dmarc, code=550))
    handle(
        3, SendResult(ids["gone@example.com"], Outcome.permanent, detail="550 5.1.1 no such user", code=550)
    )
    assert status(database, ids["dmarc@example.com"]) is Status.confirmed
    assert status(database, ids["gone@example.com"]) is Status.bounced
    with database.sessions() as session:
        rows = dict(session.execute(select(FeedbackRecord.subscriber_id, FeedbackRecord.fault)).all())
    assert rows == {ids["dmarc@example.com"]: "sender", ids["gone@example.com"]: "recipient"}


def test_stats_say_why_receivers_refused_us(
    database: Database, settings: Settings, sample_digest: Digest
) -> None:
    ids = subscribe(database, "a@example.com", "b@example.com", "c@example.com")
    edition_id, _ = send_outbox(database, settings, sample_digest)
    policy = FeedbackPolicy(database.sessions, settings)
    policy.apply(bounce(ids["a@example.com"], edition_id, "1", "authfailure"))
    policy.apply(bounce(ids["b@example.com"], edition_id, "2", "authfailure"))
    policy.apply(bounce(ids["c@example.com"], edition_id, "3", "userunknown"))
    (edition,) = database.ledger.editions()
    figures = edition_stats(database.sessions, edition)
    assert figures["refused"] == {"authfailure": 2}
    assert figures["bounced"]["hard"] == 1 and figures["bounced"]["soft"] == 0
    assert refused_text(figures["refused"]) == (
        "receivers refused us because SPF, DKIM or DMARC did not pass (authfailure): 2"
    )


def test_sendgrid_bounce_classification_speaks_when_the_reply_does_not(
    database: Database, settings: Settings
) -> None:
    def one(**fields: Any) -> FeedbackEvent:
        item = {"event": "bounce", "email": "x@example.com", "sg_event_id": "e1", **fields}
        return to_feedback([item], Links(settings), lambda _email: None)[0]

    assert one(reason="550 5.1.1 no such user", bounce_classification="Technical").reason == "userunknown"
    reputation = one(reason="550 go away", bounce_classification="Reputation")
    assert (reputation.reason, reputation.kind) == ("badreputation", FeedbackKind.soft_bounce)
    invalid = one(reason="550 rejected", bounce_classification="Invalid Address")
    assert (invalid.reason, invalid.kind, invalid.status) == (
        "userunknown",
        FeedbackKind.hard_bounce,
        "5.0.0",
    )
    dmarc = one(reason="550 5.7.26 DMARC policy", type="bounce", bounce_classification="Content")
    assert dmarc.reason == "authfailure"


def test_the_migration_gives_existing_rows_their_reason(database: Database) -> None:
    config = alembic_config(database.engine)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    rows = [
        ("hard_bounce", "5.0.0", "550 5.7.26 Unauthenticated email is not accepted due to DMARC policy"),
        ("hard_bounce", "5.1.1", "550 5.1.1 user unknown"),
        ("soft_bounce", "", "552 mailbox full"),
        ("deferred", "4.4.1", "connect to mx: Connection timed out"),
        ("complaint", "", ""),
        ("unsubscribe", "", ""),
    ]
    with database.engine.begin() as connection:
        for index, (kind, code, diagnostic) in enumerate(rows):
            connection.execute(
                text(
                    "INSERT INTO feedback_events (dedupe_key, source, kind, recipient, status, diagnostic,"
                    " occurred_at, received_at) VALUES (:key, 'old', :kind, '', :status, :diagnostic,"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"key": f"old{index}", "kind": kind, "status": code, "diagnostic": diagnostic},
            )
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with database.engine.connect() as connection:
        found = connection.execute(text("SELECT kind, reason, fault FROM feedback_events ORDER BY id")).all()
    assert [tuple(row) for row in found] == [
        ("hard_bounce", "authfailure", "sender"),
        ("hard_bounce", "userunknown", "recipient"),
        ("soft_bounce", "mailboxfull", "recipient"),
        ("deferred", "networkerror", "network"),
        ("complaint", "feedback", ""),
        ("unsubscribe", "", ""),
    ]
