"""Per-edition figures and per-person history, read from the ledger, the feedback table and the evidence.

Definitions (the numbers mean exactly this):

- ``sent``: deliveries the ledger holds for the edition (every subscriber it was attempted for);
- ``delivered``: accepted by the receiving server and not reported as bounced afterwards;
- ``bounced.hard`` / ``bounced.soft``: distinct subscribers with a hard / soft bounce of this edition,
  from any source (refused at send time, DSN, provider webhook), for a reason that is not ours as the
  sender; a subscriber counted hard is not also counted soft; ``bounced.at_send`` is how many of the
  ledger's rows were refused during the send;
- ``refused``: receivers refused *us* (a sender-side reason: authfailure, blocked, spamdetected …):
  distinct subscribers per reason; these never suppress anyone, and are not in ``bounced``;
- ``complained``: distinct subscribers whose complaint is about this edition;
- ``unsubscribed``: distinct subscribers who left because of this edition: an unsubscribe event tied to
  it, or their unsubscribe came after they were sent this edition and before they were sent another.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from newsletter.delivery.ledger_tables import Delivery, DeliveryStatus
from newsletter.edition.stored import Edition
from newsletter.feedback.reasons import Fault, reason
from newsletter.feedback.records import FeedbackKind, FeedbackRecord
from subscribers.models import ConsentEvent, ConsentKind, Subscriber


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _subscribers_with(session: Session, edition_id: int, kind: FeedbackKind) -> set[int]:
    query = (
        select(FeedbackRecord.subscriber_id)
        .where(
            FeedbackRecord.edition_id == edition_id,
            FeedbackRecord.kind == kind,
            FeedbackRecord.subscriber_id.is_not(None),
            FeedbackRecord.fault != str(Fault.sender),
        )
        .distinct()
    )
    return {row for row in session.scalars(query) if row is not None}


def refused_us(session: Session, edition_id: int) -> dict[str, int]:
    """Sender-side reasons receivers gave for this edition: reason -> distinct subscribers (or events)."""
    query = (
        select(FeedbackRecord.reason, func.count(func.distinct(FeedbackRecord.subscriber_id)), func.count())
        .where(FeedbackRecord.edition_id == edition_id, FeedbackRecord.fault == str(Fault.sender))
        .group_by(FeedbackRecord.reason)
    )
    counts = {reason: people or events for reason, people, events in session.execute(query)}
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def refused_text(refused: dict[str, int]) -> str:
    """ "receivers refused us because SPF, DKIM or DMARC did not pass (authfailure): 12; …" or ""."""
    if not refused:
        return ""
    parts = [f"{reason(name).meaning} ({name}): {count}" for name, count in refused.items()]
    return "receivers refused us because " + "; ".join(parts)


def _left_after(session: Session, edition_id: int) -> set[int]:
    """Subscribers whose unsubscribe came after this edition's delivery and before any later one."""
    later = aliased(Delivery)
    query = (
        select(Delivery.subscriber_id)
        .join(ConsentEvent, ConsentEvent.subscriber_id == Delivery.subscriber_id)
        .where(
            Delivery.edition_id == edition_id,
            ConsentEvent.kind == ConsentKind.unsubscribed,
            ConsentEvent.at >= Delivery.updated_at,
            ~exists().where(
                and_(
                    later.subscriber_id == Delivery.subscriber_id,
                    later.edition_id != edition_id,
                    later.updated_at > Delivery.updated_at,
                    later.updated_at <= ConsentEvent.at,
                )
            ),
        )
        .distinct()
    )
    return set(session.scalars(query))


def edition_stats(sessions: sessionmaker[Session], edition: Edition) -> dict[str, Any]:
    with sessions() as session:
        ledger = {status.value: 0 for status in DeliveryStatus}
        counts = select(Delivery.status, func.count()).where(Delivery.edition_id == edition.id)
        for status, count in session.execute(counts.group_by(Delivery.status)):
            ledger[DeliveryStatus(status).value] = count
        hard = _subscribers_with(session, edition.id, FeedbackKind.hard_bounce)
        soft = _subscribers_with(session, edition.id, FeedbackKind.soft_bounce) - hard
        complained = _subscribers_with(session, edition.id, FeedbackKind.complaint)
        refused = refused_us(session, edition.id)
        left = _subscribers_with(session, edition.id, FeedbackKind.unsubscribe)
        left |= _left_after(session, edition.id)
        accepted = set(
            session.scalars(
                select(Delivery.subscriber_id).where(
                    Delivery.edition_id == edition.id, Delivery.status == DeliveryStatus.accepted
                )
            )
        )
    return {
        "edition": edition.key,
        "subject": edition.subject,
        "status": str(edition.status),
        "started_at": _iso(edition.started_at),
        "sent": sum(ledger.values()),
        "delivered": len(accepted - hard - soft),
        "bounced": {"hard": len(hard), "soft": len(soft), "at_send": ledger["bounced"]},
        "refused": refused,
        "complained": len(complained),
        "unsubscribed": len(left),
        "deliveries": ledger,
    }


def recipients(
    sessions: sessionmaker[Session], edition_id: int, batch: int = 1000
) -> Iterator[dict[str, Any]]:
    """Who got what: one row per delivery of the edition, with any feedback about it (keyset-paged)."""
    after = 0
    while True:
        with sessions() as session:
            rows = session.execute(
                select(
                    Delivery.id,
                    Delivery.subscriber_id,
                    Subscriber.email,
                    Delivery.status,
                    Delivery.updated_at,
                    Delivery.last_error,
                )
                .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                .where(Delivery.edition_id == edition_id, Delivery.id > after)
                .order_by(Delivery.id)
                .limit(batch)
            ).all()
            if not rows:
                return
            ids = [row.subscriber_id for row in rows]
            feedback: dict[int, list[str]] = {}
            for subscriber_id, kind in session.execute(
                select(FeedbackRecord.subscriber_id, FeedbackRecord.kind)
                .where(FeedbackRecord.edition_id == edition_id, FeedbackRecord.subscriber_id.in_(ids))
                .order_by(FeedbackRecord.id)
            ):
                if subscriber_id is not None:
                    feedback.setdefault(subscriber_id, []).append(str(kind))
        for row in rows:
            yield {
                "subscriber_id": row.subscriber_id,
                "email": row.email,
                "delivery": str(row.status),
                "at": _iso(row.updated_at),
                "error": row.last_error,
                "feedback": feedback.get(row.subscriber_id, []),
            }
        after = rows[-1].id


def history(sessions: sessionmaker[Session], email: str) -> dict[str, Any] | None:
    """One address's story: its state, every consent event with evidence, every feedback and delivery."""
    with sessions() as session:
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email))
        if subscriber is None:
            return None
        events = session.scalars(
            select(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber.id).order_by(ConsentEvent.id)
        )
        feedback = session.scalars(
            select(FeedbackRecord)
            .where(FeedbackRecord.subscriber_id == subscriber.id)
            .order_by(FeedbackRecord.id)
        )
        deliveries = session.execute(
            select(Edition.key, Delivery.status, Delivery.updated_at, Delivery.last_error)
            .join(Edition, Edition.id == Delivery.edition_id)
            .where(Delivery.subscriber_id == subscriber.id)
            .order_by(Delivery.id)
        )
        return {
            "id": subscriber.id,
            "email": subscriber.email,
            "name": subscriber.name,
            "status": str(subscriber.status),
            "created_at": _iso(subscriber.created_at),
            "confirmed_at": _iso(subscriber.confirmed_at),
            "events": [
                {
                    "at": _iso(e.at),
                    "kind": str(e.kind),
                    "source": e.source,
                    "ip": e.ip,
                    "user_agent": e.user_agent,
                    "detail": e.detail,
                }
                for e in events
            ],
            "feedback": [
                {
                    "at": _iso(f.occurred_at),
                    "kind": str(f.kind),
                    "source": f.source,
                    "edition_id": f.edition_id,
                    "status": f.status,
                    "reason": f.reason,
                    "fault": f.fault,
                    "diagnostic": f.diagnostic,
                }
                for f in feedback
            ],
            "deliveries": [
                {"edition": key, "status": str(status), "at": _iso(at), "error": error}
                for key, status, at, error in deliveries
            ],
        }
