"""A person's data on request: everything held about them (export), or nothing that names them (erase).

The subscriber store answers for its own tables (subscriber, consent events, suppression); this module
adds what the newsletter side holds under the same subscriber id: the delivery ledger (which editions,
when, with which result) and the feedback records (bounces and complaints, with the receiver's words,
which often quote the address).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select, update

from newsletter.database import Database
from newsletter.delivery.ledger_tables import Delivery
from newsletter.edition.stored import Edition
from newsletter.feedback.records import FeedbackRecord
from subscribers.store import Consent
from subscribers.validation import normalise_email


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def export_data(database: Database, email: str) -> dict[str, Any]:
    """Everything held about ``email`` as JSON-ready data (empty lists and nulls when nothing is)."""
    address = normalise_email(email)
    empty: dict[str, Any] = {"subscriber": None, "consent_events": [], "suppression": None}
    held = database.store.export_data(address) or empty
    subscriber = held.get("subscriber")
    subscriber_id = subscriber["id"] if subscriber else None
    with database.sessions() as session:
        deliveries = (
            []
            if subscriber_id is None
            else [
                {
                    "edition": key,
                    "subject": subject,
                    **{
                        c: _plain(getattr(row, c))
                        for c in (
                            "status",
                            "attempts",
                            "message_id",
                            "provider_id",
                            "last_error",
                            "updated_at",
                        )
                    },
                }
                for row, key, subject in session.execute(
                    select(Delivery, Edition.key, Edition.subject)
                    .join(Edition, Edition.id == Delivery.edition_id)
                    .where(Delivery.subscriber_id == subscriber_id)
                    .order_by(Delivery.id)
                )
            ]
        )
        matches = [FeedbackRecord.recipient == address]
        if subscriber_id is not None:
            matches.append(FeedbackRecord.subscriber_id == subscriber_id)
        feedback = [
            {c.key: _plain(getattr(row, c.key)) for c in FeedbackRecord.__table__.columns}
            for row in session.scalars(
                select(FeedbackRecord).where(or_(*matches)).order_by(FeedbackRecord.id)
            )
        ]
    return {
        "email": address,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(),
        **held,
        "deliveries": deliveries,
        "feedback": feedback,
    }


def erase(database: Database, email: str, consent: Consent) -> bool:
    """Erase ``email``; True if a subscriber was held. The hashed suppression entry is always written.

    The newsletter-side records are scrubbed first and the store's row last, so a run cut short can
    simply be run again: until the store has erased the address, it still finds the subscriber.
    """
    address = normalise_email(email)
    held = database.store.find(address)
    matches = [FeedbackRecord.recipient == address]
    if held is not None:
        matches.append(FeedbackRecord.subscriber_id == held.id)
    with database.sessions.begin() as session:
        session.execute(update(FeedbackRecord).where(or_(*matches)).values(recipient="", diagnostic=""))
        if held is not None:
            session.execute(
                update(Delivery).where(Delivery.subscriber_id == held.id).values(last_error="")
            )  # SMTP replies quote the address
    return database.store.erase(address, consent) is not None
