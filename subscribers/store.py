"""SubscriberStore: every change to the list goes through here, with its consent evidence.

Each public method is one transaction. Status changes follow ``ALLOWED_TRANSITIONS`` and write a
ConsentEvent in the same transaction, so the state and the evidence for it can never disagree.
The confirmed list a send reads is not here: the delivery ledger reads it page by page together with
each subscriber's delivery row (``Ledger.pending_batch``), one keyset query instead of two.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from subscribers.bulk import NewRows, Staging, open_staging
from subscribers.errors import StoreError, TransitionRefused, UnknownSubscriber
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


@dataclasses.dataclass(frozen=True, slots=True)
class SignupRequest:
    """What ``SubscriberStore.request`` did. Never shown to the visitor: every outcome looks the same."""

    subscriber_id: int
    previous: Status | None  # None: a new address
    send_confirmation: bool


def _rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched: the compare-and-set writes below are decided by it."""
    return cast("CursorResult[Any]", result).rowcount


def _row(obj: Any) -> dict[str, Any]:
    """A mapped row as JSON-ready data (datetimes as ISO 8601, enums as their values)."""
    out: dict[str, Any] = {}
    for column in obj.__table__.columns:
        value = getattr(obj, column.key)
        out[column.key] = value.isoformat() if isinstance(value, dt.datetime) else value
    return out


_STATUS_EVENT = {
    Status.confirmed: ConsentKind.confirmed,
    Status.unsubscribed: ConsentKind.unsubscribed,
    Status.bounced: ConsentKind.bounced,
    Status.complained: ConsentKind.complained,
    Status.pending: ConsentKind.signup,
}


def _event(
    subscriber_id: int | None, kind: ConsentKind, consent: Consent, at: dt.datetime | None = None
) -> ConsentEvent:
    return ConsentEvent(
        subscriber_id=subscriber_id,
        kind=kind,
        at=at or dt.datetime.now(dt.UTC),
        source=consent.source[:100],
        ip=consent.ip[:64] if consent.ip else None,
        user_agent=consent.user_agent[:400] if consent.user_agent else None,
        detail=json.dumps(dict(consent.detail), sort_keys=True, default=str) if consent.detail else "",
    )


def apply_request(
    session: Session, address: str, name: str, consent: Consent, at: dt.datetime | None = None
) -> SignupRequest | None:
    """One signup request inside the caller's transaction (see ``SubscriberStore.request``).

    None when the row changed between read and write: the caller rolls back and tries again.
    """
    row = session.execute(select(Subscriber.id, Subscriber.status).where(Subscriber.email == address)).first()
    if row is None:
        subscriber = Subscriber(email=address, name=name, status=Status.pending, source=consent.source[:100])
        session.add(subscriber)
        session.flush()
        session.add(_event(subscriber.id, ConsentKind.signup, consent, at))
        return SignupRequest(subscriber.id, None, send_confirmation=True)
    subscriber_id, previous = row.id, Status(row.status)
    if previous is Status.confirmed:
        return SignupRequest(subscriber_id, previous, send_confirmation=False)
    values: dict[str, Any] = {"status": Status.pending}
    if name:
        values["name"] = name
    changed = _rowcount(
        session.execute(
            update(Subscriber)
            .where(Subscriber.id == subscriber_id, Subscriber.status == previous)
            .values(**values)
        )
    )
    if changed != 1:
        return None
    again = dataclasses.replace(consent, detail={**consent.detail, "previous": previous.value})
    session.add(_event(subscriber_id, ConsentKind.signup, again, at))
    return SignupRequest(subscriber_id, previous, send_confirmation=True)


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
            query = select(func.count()).where(
                Subscriber.status == Status.confirmed, Subscriber.id > after_id
            )
            return session.scalar(query) or 0

    def iter_all(self, batch_size: int = 1000) -> Iterator[Subscriber]:
        """Every subscriber in id order, fetched in batches so a million rows never sit in memory."""
        after = 0
        while True:
            with self._sessions() as session:
                query = (
                    select(Subscriber).where(Subscriber.id > after).order_by(Subscriber.id).limit(batch_size)
                )
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
                select(Subscriber.id, Subscriber.email, Subscriber.name).where(
                    Subscriber.email.in_(addresses)
                )
            )
            return [Recipient(row.id, row.email, row.name) for row in rows]

    def is_suppressed(self, email: str) -> bool:
        with self._sessions() as session:
            return session.get(Suppression, email_hash(normalise_email(email))) is not None

    # -- writing -------------------------------------------------------------------------------------

    def add(
        self, email: str, name: str | None = None, *, status: Status = Status.confirmed, consent: Consent
    ) -> Subscriber:
        """Add a new address on an operator's word (CLI, import). Refuses an address already listed."""
        address = normalise_email(email)
        kind = ConsentKind.imported if consent.source.startswith("import") else ConsentKind.added
        with self._sessions.begin() as session:
            if session.get(Suppression, email_hash(address)) is not None:
                raise TransitionRefused(
                    f"{address} was erased at its owner's request; it can come back "
                    "only through the signup form, with fresh consent"
                )
            subscriber = Subscriber(
                email=address,
                name=clean_name(name),
                status=status,
                source=consent.source[:100],
                confirmed_at=dt.datetime.now(dt.UTC) if status is Status.confirmed else None,
            )
            session.add(subscriber)
            try:
                session.flush()
            except IntegrityError:
                raise TransitionRefused(f"{address} is already on the list") from None
            session.add(
                _event(
                    subscriber.id,
                    kind,
                    dataclasses.replace(consent, detail={**consent.detail, "status": status.value}),
                )
            )
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
                chunk = rows[start : start + 500]
                existing = set(
                    session.scalars(
                        select(Subscriber.email).where(Subscriber.email.in_([e for e, _ in chunk]))
                    )
                )
                hashes = {email_hash(e): e for e, _ in chunk}  # erased addresses need fresh consent
                existing |= {
                    hashes[h]
                    for h in session.scalars(
                        select(Suppression.email_hash).where(Suppression.email_hash.in_(list(hashes)))
                    )
                }
                fresh = [
                    Subscriber(
                        email=e,
                        name=clean_name(n),
                        status=status,
                        source=consent.source[:100],
                        confirmed_at=now if status is Status.confirmed else None,
                    )
                    for e, n in chunk
                    if e not in existing
                ]
                session.add_all(fresh)
                session.flush()
                session.add_all([_event(s.id, ConsentKind.imported, consent) for s in fresh])
                added += len(fresh)
        return added

    @contextlib.contextmanager
    def importing(self, *, status: Status, consent: Consent) -> Iterator[Staging]:
        """A large import in one transaction: stage checked rows, then ``finish`` adds them.

        Leaving the block with an exception writes nothing; leaving it normally commits what ``finish``
        added. Addresses already listed, or suppressed after an erasure, are left out (``subscribers.bulk``).
        """
        now = dt.datetime.now(dt.UTC)
        event = _event(None, ConsentKind.imported, consent, now)
        new = NewRows(
            status=status,
            source=consent.source[:100],
            kind=ConsentKind.imported,
            at=now,
            event_source=event.source,
            ip=event.ip,
            user_agent=event.user_agent,
            detail=event.detail,
        )
        with self._sessions.begin() as session:
            yield open_staging(session.connection(), new)

    def transition(
        self, subscriber_id: int, to: Status, consent: Consent, kind: ConsentKind | None = None
    ) -> bool:
        """Move to ``to``: False when already there (idempotent); TransitionRefused if not allowed."""
        with self._sessions.begin() as session:
            subscriber = session.get(Subscriber, subscriber_id, with_for_update=True)
            if subscriber is None:
                raise UnknownSubscriber(f"no subscriber with id {subscriber_id}")
            if subscriber.status is to:
                return False
            if to not in ALLOWED_TRANSITIONS[subscriber.status]:
                raise TransitionRefused(
                    f"subscriber {subscriber_id} is {subscriber.status}; cannot become {to}"
                )
            subscriber.status = to
            if to is Status.confirmed:
                subscriber.confirmed_at = dt.datetime.now(dt.UTC)
            session.add(_event(subscriber.id, kind or _STATUS_EVENT[to], consent))
            return True

    def confirm(self, subscriber_id: int, consent: Consent) -> bool:
        return self.transition(subscriber_id, Status.confirmed, consent)

    def unsubscribe(self, subscriber_id: int, consent: Consent) -> bool:
        """Leaving always works and is idempotent. A complaint is the stronger suppression and is kept
        (the feedback policy never weakens it either); the request is still recorded as evidence.
        """
        with self._sessions.begin() as session:
            subscriber = session.get(Subscriber, subscriber_id, with_for_update=True)
            if subscriber is None:
                raise UnknownSubscriber(f"no subscriber with id {subscriber_id}")
            if subscriber.status is Status.unsubscribed:
                return False
            session.add(_event(subscriber.id, ConsentKind.unsubscribed, consent))
            if subscriber.status is Status.complained:
                return False
            subscriber.status = Status.unsubscribed
            return True

    def record(self, subscriber_id: int, kind: ConsentKind, consent: Consent) -> None:
        """Evidence without a change of state (a soft bounce below the threshold, say)."""
        with self._sessions.begin() as session:
            session.add(_event(subscriber_id, kind, consent))

    # -- signup and privacy (web form, `subscribers purge-pending / export-data / erase`) ---------------

    def request(self, email: str, name: str | None, consent: Consent) -> SignupRequest:
        """Record a signup request; the caller mails a confirmation link when ``send_confirmation`` is set.

        Every existing state is handled, and the caller must answer the visitor the same way whatever
        happened: a new address becomes pending; a pending one stays pending (the request is recorded
        and the link sent again); a suppressed one (unsubscribed, bounced, complained) goes back to
        pending and must confirm afresh; a confirmed one is left alone. Writes are compare-and-set
        (``UPDATE … WHERE status = <what we read>``, a unique-key insert that may lose a race), not
        ``SELECT … FOR UPDATE``, so concurrent requests for one address are correct on SQLite too.
        """
        address = normalise_email(email)
        cleaned = clean_name(name)
        for _attempt in range(5):
            try:
                with self._sessions.begin() as session:
                    outcome = apply_request(session, address, cleaned, consent)
            except IntegrityError:
                continue  # a concurrent request inserted this address first: read it again
            if outcome is not None:
                return outcome
        raise StoreError("the list is busy; please try again in a moment")

    def confirm_request(self, subscriber_id: int, consent: Consent) -> bool:
        """pending -> confirmed on the owner's click; False if already confirmed (a second click is harmless).

        TransitionRefused for any other state (an old link after an unsubscribe must not resubscribe).
        Confirming is fresh consent, so a suppression left by an erasure is lifted here.
        """
        with self._sessions.begin() as session:
            row = session.execute(
                select(Subscriber.email, Subscriber.status).where(Subscriber.id == subscriber_id)
            ).first()
            if row is None:
                raise UnknownSubscriber(f"no subscriber with id {subscriber_id}")
            status = Status(row.status)
            if status is Status.confirmed:
                return False
            changed = _rowcount(
                session.execute(
                    update(Subscriber)
                    .where(Subscriber.id == subscriber_id, Subscriber.status == Status.pending)
                    .values(status=Status.confirmed, confirmed_at=dt.datetime.now(dt.UTC))
                )
            )
            if changed != 1:
                raise TransitionRefused(f"subscriber {subscriber_id} is {status}; cannot become confirmed")
            session.add(_event(subscriber_id, ConsentKind.confirmed, consent))
            session.execute(delete(Suppression).where(Suppression.email_hash == email_hash(row.email)))
            return True

    def purge_pending(
        self, older_than: dt.timedelta, *, source: str = "purge-pending", now: dt.datetime | None = None
    ) -> int:
        """Forget signups never confirmed within ``older_than``; returns how many were purged.

        People who never confirmed gave no consent, so their row goes and their signup events keep only
        the time and kind (IP, user agent and detail are blanked). Someone who had confirmed once and
        asked again without confirming goes back to ``unsubscribed``, keeping their history.
        """
        cutoff = (now or dt.datetime.now(dt.UTC)) - older_than
        stale = (Subscriber.status == Status.pending, Subscriber.updated_at < cutoff)
        with self._sessions.begin() as session:
            ids = select(Subscriber.id).where(*stale)
            never = list(session.scalars(ids.where(Subscriber.confirmed_at.is_(None))))
            former = list(session.scalars(ids.where(Subscriber.confirmed_at.is_not(None))))
            for start in range(0, len(never), 500):
                chunk = never[start : start + 500]
                session.execute(
                    update(ConsentEvent)
                    .where(ConsentEvent.subscriber_id.in_(chunk))
                    .values(ip=None, user_agent=None, detail="")
                )
                session.execute(delete(Subscriber).where(Subscriber.id.in_(chunk), *stale))
            for subscriber_id in former:
                changed = _rowcount(
                    session.execute(
                        update(Subscriber)
                        .where(
                            Subscriber.id == subscriber_id,
                            Subscriber.status == Status.pending,
                        )
                        .values(status=Status.unsubscribed)
                    )
                )
                if changed:
                    session.add(_event(subscriber_id, ConsentKind.purged, Consent(source=source)))
            if never:
                session.add(
                    _event(
                        None,
                        ConsentKind.purged,
                        Consent(source=source, detail={"removed": len(never), "cutoff": cutoff.isoformat()}),
                    )
                )
            return len(never) + len(former)

    def export_data(self, email: str) -> dict[str, Any] | None:
        """Everything the store holds about one address (the subscriber and every consent event), or None."""
        address = normalise_email(email)
        with self._sessions() as session:
            subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address))
            suppressed = session.get(Suppression, email_hash(address))
            if subscriber is None:
                if suppressed is None:
                    return None
                return {"subscriber": None, "consent_events": [], "suppression": _row(suppressed)}
            events = session.scalars(
                select(ConsentEvent)
                .where(ConsentEvent.subscriber_id == subscriber.id)
                .order_by(ConsentEvent.id)
            )
            return {
                "subscriber": _row(subscriber),
                "consent_events": [_row(event) for event in events],
                "suppression": _row(suppressed) if suppressed is not None else None,
            }

    def erase(self, email: str, consent: Consent) -> int | None:
        """Remove a person's data on their request; returns the subscriber id it held, or None.

        The row stays (anonymised, ``unsubscribed``) so the delivery ledger and the edition statistics
        keep their counts; the address and name go, consent events lose IP, user agent and detail, and
        a hash of the address is kept in ``suppressions`` so it cannot be re-added (CLI, import)
        without fresh consent through the signup form.
        """
        address = normalise_email(email)
        key = email_hash(address)
        with self._sessions.begin() as session:
            if session.get(Suppression, key) is None:
                session.add(Suppression(email_hash=key, reason="erased"))
            subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email == address))
            if subscriber_id is None:
                return None
            session.execute(
                update(ConsentEvent)
                .where(ConsentEvent.subscriber_id == subscriber_id)
                .values(ip=None, user_agent=None, detail="")
            )
            session.execute(
                update(Subscriber)
                .where(Subscriber.id == subscriber_id)
                .values(
                    email=f"erased-{subscriber_id}@erased.invalid",
                    name="",
                    source="",
                    status=Status.unsubscribed,
                )
            )
            session.add(
                _event(
                    subscriber_id, ConsentKind.erased, dataclasses.replace(consent, ip=None, user_agent=None)
                )
            )
            return subscriber_id
