"""The batches of a distributed send: ranges of subscriber ids that workers claim from the ledger.

``plan`` cuts the confirmed list into ranges of ``batch_size`` subscribers (by id, so a range stays the
same whoever reads it later) and stores one ``send_batches`` row per range. A worker claims a range
before sending it, with the row locked (``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL: a worker
never waits on another's claim, it sees the batch as busy), and holds the claim as a lease that it
renews while it sends. A claim whose lease expired belongs to a worker that died: the next worker takes
it over and sends, from the ledger rows, what the dead one had not finished. A batch is ``done`` only
once every delivery in it was written; the broker's message is acknowledged after that commit.

Two live workers never send one batch: claiming is a compare-and-set under the row lock, and a worker
that finds its claim taken over (it stalled past its lease) stops before its next message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from newsletter.delivery.leases import gone
from newsletter.delivery.ledger_tables import DELIVERIES, DeliveryStatus, aware
from subscribers.db import Base
from subscribers.models import BigId, Subscriber, utcnow
from subscribers.models import Status as SubscriberStatus

PLAN_READ = 20_000
"""Subscriber ids read at a time while planning: the send command's memory stays flat in list size."""


class BatchStatus(enum.StrEnum):
    queued = "queued"  # waiting for a worker (or put back by a paused one)
    claimed = "claimed"  # a worker holds it while its lease is live
    done = "done"  # every delivery in the range has its result in the ledger


class SendBatch(Base):
    __tablename__ = "send_batches"
    __table_args__ = (UniqueConstraint("edition_id", "first_id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"), index=True)
    first_id: Mapped[int] = mapped_column(BigInteger)
    last_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=BatchStatus.queued.value)
    holder: Mapped[str] = mapped_column(String(255), default="")
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    claims: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))  # queued: when it is due
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


BATCHES: Table = SendBatch.__table__  # type: ignore[assignment]


@dataclasses.dataclass(frozen=True)
class BatchRange:
    id: int
    first_id: int
    last_id: int


@dataclasses.dataclass(frozen=True)
class Claim:
    """What a worker learned when it tried to claim: the range (claimed), or why not and for how long."""

    batch: BatchRange | None
    state: str  # "claimed", "done", "busy", "missing"
    wait: float = 0.0  # busy: seconds until the other holder's lease runs out


class Batches:
    def __init__(self, sessions: sessionmaker[Session], lease_seconds: float) -> None:
        self._sessions = sessions
        self.lease_seconds = lease_seconds

    def plan(self, edition_id: int, batch_size: int) -> list[int]:
        """Ranges for every confirmed subscriber not yet covered; the ids of the batches not done.

        A resumed distributed send plans again: ranges already stored stay as they are, and subscribers
        confirmed since (ids past the last range) get new ranges.
        """
        with self._sessions.begin() as session:
            covered = session.scalar(
                select(func.max(BATCHES.c.last_id)).where(BATCHES.c.edition_id == edition_id)
            )
            after = int(covered or 0)
            per_read = batch_size * max(1, PLAN_READ // batch_size)  # whole batches, ~20,000 ids a read
            while True:
                ids = session.scalars(
                    select(Subscriber.id)
                    .where(Subscriber.status == SubscriberStatus.confirmed, Subscriber.id > after)
                    .order_by(Subscriber.id)
                    .limit(per_read)
                ).all()
                if not ids:
                    break
                rows = [
                    {
                        "edition_id": edition_id,
                        "first_id": chunk[0],
                        "last_id": chunk[-1],
                        "updated_at": utcnow(),
                    }
                    for chunk in (ids[i : i + batch_size] for i in range(0, len(ids), batch_size))
                ]
                session.execute(insert(BATCHES), rows)
                after = ids[-1]
            return list(
                session.scalars(
                    select(BATCHES.c.id)
                    .where(BATCHES.c.edition_id == edition_id, BATCHES.c.status != BatchStatus.done)
                    .order_by(BATCHES.c.first_id)
                )
            )

    def claim(self, batch_id: int, holder: str) -> Claim:
        """Claim one batch for ``holder``: queued, expired, or already ours (a redelivered message)."""
        now = utcnow()
        with self._sessions.begin() as session:
            query = select(BATCHES).where(BATCHES.c.id == batch_id)
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            else:  # SQLite: take the write lock before reading, so the read and the claim are one step
                session.execute(
                    update(BATCHES).where(BATCHES.c.id == batch_id).values(claims=BATCHES.c.claims)
                )
            row = session.execute(query).first()
            if row is None:
                exists = session.scalar(select(BATCHES.c.id).where(BATCHES.c.id == batch_id))
                return Claim(None, "busy" if exists else "missing", 1.0)
            if row.status == BatchStatus.done:
                return Claim(None, "done")
            lease = aware(row.lease_until) if row.lease_until is not None else None
            live = lease is not None and lease > now and not gone(row.holder)  # a dead pid here: not live
            if row.status == BatchStatus.claimed and row.holder != holder and live:
                return Claim(None, "busy", (lease - now).total_seconds() if lease else 1.0)
            session.execute(
                update(BATCHES)
                .where(BATCHES.c.id == batch_id)
                .values(
                    status=BatchStatus.claimed,
                    holder=holder,
                    lease_until=now + dt.timedelta(seconds=self.lease_seconds),
                    claims=row.claims + 1,
                    updated_at=now,
                )
            )
            return Claim(BatchRange(row.id, row.first_id, row.last_id), "claimed")

    def renew(self, batch_id: int, holder: str) -> bool:
        """Extend our claim; False when it is not ours any more (we stalled past the lease)."""
        now = utcnow()
        with self._sessions.begin() as session:
            result = session.execute(
                update(BATCHES)
                .where(
                    BATCHES.c.id == batch_id,
                    BATCHES.c.holder == holder,
                    BATCHES.c.status == BatchStatus.claimed,
                )
                .values(lease_until=now + dt.timedelta(seconds=self.lease_seconds), updated_at=now)
            )
            return bool(getattr(result, "rowcount", 0))

    def finish(self, batch_id: int, holder: str, *, done: bool, next_at: dt.datetime | None = None) -> bool:
        """``done``: every delivery written; else back in the queue, due at ``next_at`` (a retry), or
        when a resume enqueues it again (None: paused, transport down)."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(BATCHES)
                .where(BATCHES.c.id == batch_id, BATCHES.c.holder == holder)
                .values(
                    status=BatchStatus.done if done else BatchStatus.queued,
                    lease_until=None,
                    next_at=next_at,
                    updated_at=utcnow(),
                )
            )
            return bool(getattr(result, "rowcount", 0))

    def enqueued(self, batch_ids: list[int], at: dt.datetime) -> None:
        """A message for these batches is on its way, due at ``at``: a rescue leaves them alone till then."""
        with self._sessions.begin() as session:
            for start in range(0, len(batch_ids), 5000):
                chunk = batch_ids[start : start + 5000]
                session.execute(update(BATCHES).where(BATCHES.c.id.in_(chunk)).values(next_at=at))

    def remaining(self, edition_id: int) -> dict[str, int]:
        """Batches of the edition per status."""
        with self._sessions() as session:
            rows = session.execute(
                select(BATCHES.c.status, func.count())
                .where(BATCHES.c.edition_id == edition_id)
                .group_by(BATCHES.c.status)
            )
            counts = {status.value: 0 for status in BatchStatus}
            counts.update({status: count for status, count in rows})
        return counts

    def next_retry(self, edition_id: int, batch: BatchRange) -> dt.datetime | None:
        """When the range's earliest deferral of a still-confirmed subscriber is due; None: all final."""
        with self._sessions() as session:
            row = session.execute(
                select(
                    func.min(DELIVERIES.c.next_attempt_at),
                    func.count(),
                    func.count(DELIVERIES.c.next_attempt_at),
                )
                .join(Subscriber.__table__, Subscriber.id == DELIVERIES.c.subscriber_id)
                .where(
                    DELIVERIES.c.edition_id == edition_id,
                    DELIVERIES.c.subscriber_id.between(batch.first_id, batch.last_id),
                    DELIVERIES.c.status.in_((DeliveryStatus.deferred, DeliveryStatus.sending)),
                    Subscriber.status == SubscriberStatus.confirmed,
                )
            ).one()
        earliest, rows, timed = row
        if not rows:
            return None
        return utcnow() if timed < rows or earliest is None else aware(earliest)  # untimed: due now

    def live_holders(self, edition_id: int) -> list[str]:
        """Workers whose claim on a batch of this edition is live: where a distributed send runs."""
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(BATCHES.c.holder)
                    .where(
                        BATCHES.c.edition_id == edition_id,
                        BATCHES.c.status == BatchStatus.claimed,
                        BATCHES.c.lease_until > utcnow(),
                    )
                    .distinct()
                )
            )

    def stale(self, edition_id: int, grace: float) -> list[int]:
        """Batches nobody is working on that should have been picked up ``grace`` seconds ago: their
        message was lost (a broker restarted empty) or their worker died. A rescue enqueues them again."""
        now = utcnow()
        overdue = now - dt.timedelta(seconds=grace)
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(BATCHES.c.id).where(
                        BATCHES.c.edition_id == edition_id,
                        BATCHES.c.status != BatchStatus.done,
                        BATCHES.c.lease_until.is_(None) | (BATCHES.c.lease_until <= now),
                        BATCHES.c.next_at.is_(None) | (BATCHES.c.next_at <= overdue),
                    )
                )
            )

    def editions_with_batches(self) -> set[int]:
        with self._sessions() as session:
            return set(session.scalars(select(BATCHES.c.edition_id).distinct()))
