"""The feedback policy on the real database (SQLite and PostgreSQL): one event, one decision, evidence."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.transports.base import Outcome, SendResult
from newsletter.feedback.apply import FeedbackPolicy, send_time_feedback
from newsletter.feedback.events import FeedbackEvent, FeedbackKind
from newsletter.feedback.records import FeedbackRecord
from subscribers import Consent, Status
from subscribers.models import ConsentKind
from tests.support.feedback_helpers import subscribe

NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
NO_EDITION = 0  # the confirmed list as a send of a new edition reads it: nobody has a delivery yet


def event(
    kind: FeedbackKind,
    subscriber_id: int | None,
    key: str,
    *,
    edition_id: int | None = None,
    days_ago: float = 0,
    **extra: str,
) -> FeedbackEvent:
    return FeedbackEvent(
        kind=kind,
        source="test",
        dedupe_key=key,
        subscriber_id=subscriber_id,
        edition_id=edition_id,
        occurred_at=NOW - dt.timedelta(days=days_ago),
        evidence={"file": "test"},
        **extra,
    )


def status(database: Database, subscriber_id: int) -> Status:
    return Status(database.store.get(subscriber_id).status)


def records(database: Database) -> int:
    with database.sessions() as session:
        return session.scalar(select(func.count()).select_from(FeedbackRecord)) or 0


def test_a_hard_bounce_suppresses_at_once_with_its_evidence(database: Database, settings: Settings) -> None:
    ids = subscribe(database, "gone@example.com")
    policy = FeedbackPolicy(database.sessions, settings)
    decision = policy.apply(
        event(
            FeedbackKind.hard_bounce,
            ids["gone@example.com"],
            "k1",
            status="5.1.1",
            diagnostic="550 5.1.1 no such user",
            recipient="gone@example.com",
        ),
        now=NOW,
    )
    assert decision.outcome == "applied" and decision.status is Status.bounced
    assert status(database, ids["gone@example.com"]) is Status.bounced
    last = database.store.events(ids["gone@example.com"])[-1]
    assert last.kind is ConsentKind.bounced and last.source == "feedback:test"
    detail = json.loads(last.detail)
    assert detail["status"] == "5.1.1" and "no such user" in detail["diagnostic"] and detail["file"] == "test"


def test_the_same_event_twice_changes_nothing(database: Database, settings: Settings) -> None:
    ids = subscribe(database, "twice@example.com")
    policy = FeedbackPolicy(database.sessions, settings)
    first = policy.apply(event(FeedbackKind.soft_bounce, ids["twice@example.com"], "same"), now=NOW)
    events_after_first = len(database.store.events(ids["twice@example.com"]))
    second = policy.apply(event(FeedbackKind.soft_bounce, ids["twice@example.com"], "same"), now=NOW)
    assert first.outcome == "applied" and second.outcome == "duplicate"
    assert len(database.store.events(ids["twice@example.com"])) == events_after_first
    assert records(database) == 1


def test_soft_bounces_suppress_only_at_the_threshold_within_the_window(
    database: Database, settings: Settings
) -> None:
    ids = subscribe(database, "full@example.com")
    sid = ids["full@example.com"]
    policy = FeedbackPolicy(
        database.sessions, settings.replace(soft_bounce_threshold=3, soft_bounce_window_days=30)
    )
    policy.apply(event(FeedbackKind.soft_bounce, sid, "old", days_ago=45), now=NOW)  # outside the window
    policy.apply(event(FeedbackKind.soft_bounce, sid, "s1", days_ago=20), now=NOW)
    decision = policy.apply(event(FeedbackKind.soft_bounce, sid, "s2", days_ago=10), now=NOW)
    assert decision.status is Status.confirmed and "2 of 3" in decision.action
    assert status(database, sid) is Status.confirmed
    decision = policy.apply(event(FeedbackKind.soft_bounce, sid, "s3", days_ago=1), now=NOW)
    assert decision.status is Status.bounced and "3 of 3" in decision.action
    kinds = [e.kind for e in database.store.events(sid)]
    assert kinds.count(ConsentKind.soft_bounce) == 3 and kinds[-1] is ConsentKind.bounced


def test_two_reports_of_one_delivery_count_as_one_soft_bounce(
    database: Database, settings: Settings, sample_digest: object
) -> None:
    from newsletter.edition.digest import Digest
    from tests.support.feedback_helpers import send_outbox

    assert isinstance(sample_digest, Digest)
    ids = subscribe(database, "dup@example.com")
    edition_id, _ = send_outbox(database, settings, sample_digest)
    policy = FeedbackPolicy(database.sessions, settings.replace(soft_bounce_threshold=2))
    sid = ids["dup@example.com"]
    policy.apply(event(FeedbackKind.soft_bounce, sid, "dsn", edition_id=edition_id), now=NOW)
    decision = policy.apply(
        event(FeedbackKind.soft_bounce, ids["dup@example.com"], "webhook", edition_id=edition_id), now=NOW
    )
    assert "1 of 2" in decision.action and decision.status is Status.confirmed


def test_a_complaint_unsubscribes_and_suppresses_and_is_not_undone(
    database: Database, settings: Settings
) -> None:
    ids = subscribe(database, "angry@example.com")
    sid = ids["angry@example.com"]
    policy = FeedbackPolicy(database.sessions, settings)
    assert policy.apply(event(FeedbackKind.complaint, sid, "c1"), now=NOW).status is Status.complained
    # An unsubscribe or a bounce arriving later does not weaken the complaint.
    assert policy.apply(event(FeedbackKind.unsubscribe, sid, "u1"), now=NOW).status is Status.complained
    assert policy.apply(event(FeedbackKind.hard_bounce, sid, "h1"), now=NOW).status is Status.complained
    assert status(database, sid) is Status.complained
    assert database.ledger.pending_batch(NO_EDITION, 0, 10, NOW).to_send == []


def test_unsubscribe_and_unmatched_and_informational_events(database: Database, settings: Settings) -> None:
    ids = subscribe(database, "leaving@example.com")
    policy = FeedbackPolicy(database.sessions, settings)
    assert (
        policy.apply(event(FeedbackKind.unsubscribe, ids["leaving@example.com"], "u"), now=NOW).status
        is Status.unsubscribed
    )
    assert policy.apply(event(FeedbackKind.hard_bounce, None, "nobody"), now=NOW).outcome == "unmatched"
    assert policy.apply(event(FeedbackKind.hard_bounce, 999_999, "stranger"), now=NOW).outcome == "unmatched"
    delivered = policy.apply(event(FeedbackKind.delivered, ids["leaving@example.com"], "d"), now=NOW)
    assert delivered.outcome == "applied" and records(database) == 4


def test_a_permanent_smtp_reply_at_send_time_goes_through_the_same_policy(
    database: Database, settings: Settings
) -> None:
    ids = subscribe(database, "rcpt@example.com", "full@example.com")
    handle = send_time_feedback(FeedbackPolicy(database.sessions, settings))
    rcpt, full = ids["rcpt@example.com"], ids["full@example.com"]
    handle(7, SendResult(rcpt, Outcome.permanent, detail="550 5.1.1 <rcpt@example.com>: no user", code=550))
    handle(7, SendResult(full, Outcome.permanent, detail="552 5.2.2 mailbox full", code=552))
    handle(7, SendResult(rcpt, Outcome.permanent, detail="again", code=550))  # the same delivery again
    assert status(database, ids["rcpt@example.com"]) is Status.bounced
    assert status(database, ids["full@example.com"]) is Status.confirmed
    assert records(database) == 2


@pytest.mark.parametrize("kind", [FeedbackKind.hard_bounce, FeedbackKind.complaint])
def test_a_suppressed_subscriber_is_no_longer_sent_to(
    database: Database, settings: Settings, kind: FeedbackKind
) -> None:
    ids = subscribe(database, "a@example.com", "b@example.com")
    FeedbackPolicy(database.sessions, settings).apply(event(kind, ids["a@example.com"], "x"), now=NOW)
    assert [r.email for r in database.ledger.pending_batch(NO_EDITION, 0, 10, NOW).to_send] == [
        "b@example.com"
    ]


def test_a_resubscribed_address_needs_consent_again(database: Database, settings: Settings) -> None:
    ids = subscribe(database, "back@example.com")
    FeedbackPolicy(database.sessions, settings).apply(
        event(FeedbackKind.hard_bounce, ids["back@example.com"], "hb"), now=NOW
    )
    database.store.transition(ids["back@example.com"], Status.pending, Consent("form"))
    assert status(database, ids["back@example.com"]) is Status.pending
