"""SubscriberStore: every change to the list goes through here, with its consent evidence.

Each public method is one transaction. Status changes follow ``ALLOWED_TRANSITIONS`` and write a
ConsentEvent in the same transaction, so the state and the evidence for it can never disagree.
Reading the confirmed list for a send is keyset-paginated by id: memory stays flat whatever the list
size, and a resumed send can continue after the last id it handled.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from subscribers.errors import TransitionRefused, UnknownSubscriber
from subscribers.models import ALLOWED_TRANSITIONS, ConsentEvent, ConsentKind, Status, Subscriber, Suppression
from subscribers.validation import clean_name, email_hash, normalise_email


@dataclasses.dataclass(frozen=True)
class Consent:
    """Who asked, from where: the evidence attached to a change of state."""

    source: str
    ip: str | None = None
    user_agent: str | None = None
    detail: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class Recipient:
    """The little a send needs of a subscriber; plain data so a batch can cross threads and processes."""

    id: int
    email: str
    name: str


_STATUS_EVENT = {
    Status.confirmed: ConsentKind.confirmed,
    Status.unsubscribed: ConsentKind.unsubscribed,
    Status.bounced: ConsentKind.bounced,
    Status.complained: ConsentKind.complained,
    Status.pending: ConsentKind.signup,
}


def _event(subscriber_id: int | None, kind: ConsentKind, consent: Consent) -> ConsentEvent:
    return ConsentEvent(
        subscriber_id=subscriber_id,
        kind=kind,
        source=consent.source[:100],
        ip=consent.ip[:64] if consent.ip else None,
        user_agent=consent.user_agent[:400] if consent.user_agent else None,
        detail=json.dumps(dict(consent.detail), sort_keys=True, default=str) if consent.detail else "",
    )


class SubscriberStore:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    # -- reading -------------------------------------------------------------------------------------

    def get(self, subscriber_id: int) -> Subscriber:
        with self._sessions() as session:
            subscriber = session.get(Subscriber, subscriber_id)
            if subscriber is None:
                raise UnknownSubscriber(f"no subscriber with id {subscriber_id}")
            return subscriber

    def find(self, email: str) -> Subscriber | None:
        address = normalise_email(email)
        with self._sessions() as session:
            return session.scalar(select(Subscriber).where(Subscriber.email == address))

    def events(self, subscriber_id: int) -> list[ConsentEvent]:
        with self._sessions() as session:
            query = select(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber_id)
            return list(session.scalars(query.order_by(ConsentEvent.id)))

    def count_by_status(self) -> dict[str, int]:
        counts = {status.value: 0 for status in Status}
        with self._sessions() as session:
            rows = session.execute(select(Subscriber.status, func.count()).group_by(Subscriber.status))
            for status, count in rows:
                counts[Status(status).value] = count
        return counts

    def count_confirmed(self, after_id: int = 0) -> int:
        with self._sessions() as session:
            query = select(func.count()).where(Subscriber.status == Status.confirmed, Subscriber.id > after_id)
            return session.scalar(query) or 0

    def confirmed_batch(self, after_id: int, limit: int) -> list[Recipient]:
        """The next ``limit`` confirmed subscribers with id > after_id, in id order (keyset pagination)."""
        query = (
            select(Subscriber.id, Subscriber.email, Subscriber.name)
            .where(Subscriber.status == Status.confirmed, Subscriber.id > after_id)
            .order_by(Subscriber.id)
            .limit(limit)
        )
        with self._sessions() as session:
            return [Recipient(row.id, row.email, row.name) for row in session.execute(query)]

    def iter_confirmed(self, batch_size: int = 1000, after_id: int = 0) -> Iterator[list[Recipient]]:
        while batch := self.confirmed_batch(after_id, batch_size):
            yield batch
            after_id = batch[-1].id

    def iter_all(self, batch_size: int = 1000) -> Iterator[Subscriber]:
        """Every subscriber in id order, fetched in batches so a million rows never sit in memory."""
        after = 0
        while True:
            with self._sessions() as session:
                query = select(Subscriber).where(Subscriber.id > after).order_by(Subscriber.id).limit(batch_size)
                rows = list(session.scalars(query))
            if not rows:
                return
            yield from rows
            after = rows[-1].id

    def recipients_by_email(self, emails: Iterable[str]) -> list[Recipient]:
        """Subscribers named by address, whatever their status (test sends go to staff, not the list)."""
        addresses = sorted({normalise_email(e) for e in emails})
        with self._sessions() as session:
            rows = session.execute(
                select(Subscriber.id, Subscriber.email, Subscriber.name).where(Subscriber.email.in_(addresses))
            )
            return [Recipient(row.id, row.email, row.name) for row in rows]

    def is_suppressed(self, email: str) -> bool:
        with self._sessions() as session:
            return session.get(Suppression, email_hash(normalise_email(email))) is not None

    # -- writing -------------------------------------------------------------------------------------

    def add(self, email: str, name: str | None = None, *, status: Status = Status.confirmed,
            consent: Consent) -> Subscriber:
        """Add a new address on an operator's word (CLI, import). Refuses an address already listed."""
        address = normalise_email(email)
        kind = ConsentKind.imported if consent.source.startswith("import") else ConsentKind.added
        with self._sessions.begin() as session:
            subscriber = Subscriber(
                email=address, name=clean_name(name), status=status, source=consent.source[:100],
                confirmed_at=dt.datetime.now(dt.UTC) if status is Status.confirmed else None,
            )
            session.add(subscriber)
            try:
                session.flush()
            except IntegrityError:
                raise TransitionRefused(f"{address} is already on the list") from None
            session.add(_event(subscriber.id, kind, dataclasses.replace(
                consent, detail={**consent.detail, "status": status.value})))
            return subscriber

    def add_many(self, rows: Iterable[tuple[str, str]], *, status: Status, consent: Consent) -> int:
        """Bulk insert of already-normalised (email, name) pairs; addresses already listed are skipped.

        Returns how many were added. One transaction, so a failure leaves nothing half-written.
        """
        rows = list(rows)
        added = 0
        now = dt.datetime.now(dt.UTC)
        with self._sessions.begin() as session:
            for start in range(0, len(rows), 500):
                chunk = rows[start:start + 500]
                existing = set(session.scalars(
                    select(Subscriber.email).where(Subscriber.email.in_([e for e, _ in chunk]))))
                fresh = [Subscriber(email=e, name=clean_name(n), status=status, source=consent.source[:100],
                                    confirmed_at=now if status is Status.confirmed else None)
                         for e, n in chunk if e not in existing]
                session.add_all(fresh)
                session.flush()
                session.add_all([_event(s.id, ConsentKind.imported, consent) for s in fresh])
                added += len(fresh)
        return added

    def transition(self, subscriber_id: int, to: Status, consent: Consent,
                   kind: ConsentKind | None = None) -> bool:
        """Move a subscriber to ``to``; False when already there (idempotent), TransitionRefused if not allowed."""
        with self._sessions.begin() as session:
            subscriber = session.get(Subscriber, subscriber_id, with_for_update=True)
            if subscriber is None:
                raise UnknownSubscriber(f"no subscriber with id {subscriber_id}")
            if subscriber.status is to:
                return False
            if to not in ALLOWED_TRANSITIONS[subscriber.status]:
                raise TransitionRefused(f"subscriber {subscriber_id} is {subscriber.status}; cannot become {to}")
            subscriber.status = to
            if to is Status.confirmed:
                subscriber.confirmed_at = dt.datetime.now(dt.UTC)
            session.add(_event(subscriber.id, kind or _STATUS_EVENT[to], consent))
            return True

    def confirm(self, subscriber_id: int, consent: Consent) -> bool:
        return self.transition(subscriber_id, Status.confirmed, consent)

    def unsubscribe(self, subscriber_id: int, consent: Consent) -> bool:
        """Idempotent, and allowed from every state but already-unsubscribed: leaving always works."""
        with self._sessions.begin() as session:
            subscriber = session.get(Subscriber, subscriber_id, with_for_update=True)
            if subscriber is None:
                raise UnknownSubscriber(f"no subscriber with id {subscriber_id}")
            if subscriber.status is Status.unsubscribed:
                return False
            subscriber.status = Status.unsubscribed
            session.add(_event(subscriber.id, ConsentKind.unsubscribed, consent))
            return True

    def record(self, subscriber_id: int, kind: ConsentKind, consent: Consent) -> None:
        """Evidence without a change of state (a soft bounce below the threshold, say)."""
        with self._sessions.begin() as session:
            session.add(_event(subscriber_id, kind, consent))
