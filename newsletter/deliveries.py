"""The edition archive and the delivery ledger: who got what, when, with which result.

One ``deliveries`` row per edition x subscriber (unique), written before the transport call (status
``sending``) and after it (the result). That row is the truth a resumed send reads: final rows
(accepted, failed, bounced) are never sent again; ``sending`` rows are the ones that were in flight when
a process died, and ``deferred`` rows met a temporary failure: both are sent again, with the same
Message-ID. Writes go through SQLAlchemy Core in executemany batches: one round trip per batch, not
per recipient.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from subscribers.db import Base
from subscribers.models import BigId, utcnow


class EditionStatus(enum.StrEnum):
    draft = "draft"
    sending = "sending"
    paused = "paused"
    cancelled = "cancelled"
    sent = "sent"


class DeliveryStatus(enum.StrEnum):
    sending = "sending"  # handed (or about to be handed) to the transport; unknown outcome after a crash
    accepted = "accepted"  # the transport took it
    deferred = "deferred"  # temporary failure; a resume or retry sends it again
    failed = "failed"  # gave up after retries
    bounced = "bounced"  # permanent refusal for this recipient

    @property
    def is_final(self) -> bool:
        return self in (DeliveryStatus.accepted, DeliveryStatus.failed, DeliveryStatus.bounced)


FINAL_STATUSES = tuple(s for s in DeliveryStatus if s.is_final)


class Edition(Base):
    __tablename__ = "editions"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    subject: Mapped[str] = mapped_column(String(400))
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    digest_json: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[EditionStatus] = mapped_column(
        Enum(EditionStatus, name="edition_status", native_enum=False, length=16), default=EditionStatus.draft
    )
    transport: Mapped[str] = mapped_column(String(32), default="")
    scheduled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("edition_id", "subscriber_id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, name="delivery_status", native_enum=False, length=16)
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[str] = mapped_column(String(255))
    provider_id: Mapped[str] = mapped_column(String(255), default="")
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Ledger:
    """Reads and writes of the two tables, in the shapes the send loop needs."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def find_edition(self, key: str) -> Edition | None:
        with self._sessions() as session:
            return session.scalar(select(Edition).where(Edition.key == key))

    def get_edition(self, edition_id: int) -> Edition | None:
        with self._sessions() as session:
            return session.get(Edition, edition_id)

    def save_edition(self, *, key: str, subject: str, html: str, text: str, digest_json: str,
                     content_hash: str) -> Edition:
        """Store a newly rendered edition, or refresh a stored one that nobody has been sent yet."""
        with self._sessions.begin() as session:
            edition = session.scalar(select(Edition).where(Edition.key == key))
            if edition is None:
                edition = Edition(key=key)
                session.add(edition)
            edition.subject, edition.html, edition.text = subject, html, text
            edition.digest_json, edition.content_hash = digest_json, content_hash
            session.flush()
            return edition

    def has_deliveries(self, edition_id: int) -> bool:
        with self._sessions() as session:
            return session.scalar(select(Delivery.id).where(Delivery.edition_id == edition_id).limit(1)) is not None

    def set_edition_status(self, edition_id: int, status: EditionStatus, transport: str | None = None) -> None:
        values: dict[str, Any] = {"status": status}
        if transport is not None:
            values["transport"] = transport
        if status is EditionStatus.sending:
            values["started_at"] = func.coalesce(Edition.started_at, utcnow())
        if status is EditionStatus.sent:
            values["finished_at"] = utcnow()
        with self._sessions.begin() as session:
            session.execute(update(Edition).where(Edition.id == edition_id).values(**values))

    def final_subscribers(self, edition_id: int, subscriber_ids: Sequence[int]) -> set[int]:
        """Of these subscribers, those whose delivery of this edition is settled (never send again)."""
        if not subscriber_ids:
            return set()
        query = select(Delivery.subscriber_id).where(
            Delivery.edition_id == edition_id,
            Delivery.subscriber_id.in_(subscriber_ids),
            Delivery.status.in_(FINAL_STATUSES),
        )
        with self._sessions() as session:
            return set(session.scalars(query))

    def mark_sending(self, edition_id: int, rows: Iterable[tuple[int, str]]) -> None:
        """Record (subscriber id, Message-ID) as in flight before the transport sees them."""
        rows = list(rows)
        if not rows:
            return
        ids = [subscriber_id for subscriber_id, _ in rows]
        now = utcnow()
        with self._sessions.begin() as session:
            known = set(session.scalars(select(Delivery.subscriber_id).where(
                Delivery.edition_id == edition_id, Delivery.subscriber_id.in_(ids))))
            fresh = [{"edition_id": edition_id, "subscriber_id": sid, "status": DeliveryStatus.sending,
                      "attempts": 1, "message_id": mid, "updated_at": now}
                     for sid, mid in rows if sid not in known]
            if fresh:
                session.execute(insert(Delivery), fresh)
            if known:
                session.execute(
                    update(Delivery)
                    .where(Delivery.edition_id == edition_id, Delivery.subscriber_id.in_(known))
                    .values(status=DeliveryStatus.sending, attempts=Delivery.attempts + 1, updated_at=now)
                )

    def record_results(self, edition_id: int, results: Iterable[tuple[int, DeliveryStatus, str, str]]) -> None:
        """(subscriber id, status, provider id, error) for each message the transport answered for."""
        params = [{"e": edition_id, "s": sid, "status": status, "provider_id": provider_id[:255],
                   "last_error": error[:2000], "updated_at": utcnow()}
                  for sid, status, provider_id, error in results]
        if not params:
            return
        statement = (
            update(Delivery.__table__)  # type: ignore[arg-type]
            .where(Delivery.__table__.c.edition_id == bindparam("e"),
                   Delivery.__table__.c.subscriber_id == bindparam("s"))
            .values(status=bindparam("status"), provider_id=bindparam("provider_id"),
                    last_error=bindparam("last_error"), updated_at=bindparam("updated_at"))
        )
        with self._sessions.begin() as session:
            session.connection().execute(statement, params)

    def counts(self, edition_id: int) -> dict[str, int]:
        totals = {status.value: 0 for status in DeliveryStatus}
        with self._sessions() as session:
            rows = session.execute(select(Delivery.status, func.count())
                                   .where(Delivery.edition_id == edition_id).group_by(Delivery.status))
            for status, count in rows:
                totals[DeliveryStatus(status).value] = count
        return totals

    def editions(self) -> list[Edition]:
        with self._sessions() as session:
            return list(session.scalars(select(Edition).order_by(Edition.id.desc())))
