"""Tables of the store: subscribers with an explicit lifecycle, and the append-only consent evidence.

A subscriber's state is one enum with the allowed transitions written down below, never a pair of
booleans. Every change of state is accompanied by a ConsentEvent row that says when, why and on whose
word it happened; those rows are never updated or deleted (an ORM guard refuses it), except that erasure
strips personal data from them with one explicit UPDATE that bypasses the ORM.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import BigInteger, DateTime, Enum, ForeignKey, Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from subscribers.db import Base

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity for 1M+ lists.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Status(enum.StrEnum):
    pending = "pending"
    confirmed = "confirmed"
    unsubscribed = "unsubscribed"
    bounced = "bounced"
    complained = "complained"


# Who may become what. Anything not listed is refused. Suppressed states (unsubscribed, bounced,
# complained) only lead back to pending: a person must confirm again before they are mailed again.
ALLOWED_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.pending: frozenset({Status.confirmed, Status.unsubscribed, Status.bounced, Status.complained}),
    Status.confirmed: frozenset({Status.unsubscribed, Status.bounced, Status.complained}),
    Status.unsubscribed: frozenset({Status.pending}),
    Status.bounced: frozenset({Status.pending, Status.unsubscribed, Status.complained}),
    Status.complained: frozenset({Status.pending, Status.unsubscribed}),
}


class ConsentKind(enum.StrEnum):
    signup = "signup"  # asked through a form; pending until confirmed
    confirmed = "confirmed"  # followed the confirmation link
    added = "added"  # added by an operator (CLI, import) with the consent they vouch for
    imported = "imported"
    unsubscribed = "unsubscribed"
    bounced = "bounced"
    soft_bounce = "soft_bounce"  # recorded, not (yet) suppressing
    complained = "complained"
    purged = "purged"
    erased = "erased"


class Subscriber(Base):
    __tablename__ = "subscribers"
    __table_args__ = (Index("ix_subscribers_status_id", "status", "id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[Status] = mapped_column(
        Enum(Status, name="subscriber_status", native_enum=False, length=16, validate_strings=True)
    )
    source: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    events: Mapped[list[ConsentEvent]] = relationship(
        back_populates="subscriber", order_by="ConsentEvent.id", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<Subscriber {self.id} {self.status}>"


class ConsentEvent(Base):
    __tablename__ = "consent_events"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[ConsentKind] = mapped_column(
        Enum(ConsentKind, name="consent_kind", native_enum=False, length=16, validate_strings=True)
    )
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    source: Mapped[str] = mapped_column(String(100), default="")
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    detail: Mapped[str] = mapped_column(Text, default="")

    subscriber: Mapped[Subscriber | None] = relationship(back_populates="events")


class SignupAttempt(Base):
    """A signup form post, recorded before the visitor is answered and worked off after.

    Writing this one row is all a form post does to the database, whatever the address's state, so
    the time an answer takes cannot tell who is on the list. The row is deleted in the transaction
    that applies it (``subscribers.signups``); rows left by a crash are applied at the next start.
    """

    __tablename__ = "signup_attempts"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    source: Mapped[str] = mapped_column(String(100), default="")
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    detail: Mapped[str] = mapped_column(Text, default="")


class Suppression(Base):
    """Addresses that must not be re-added without fresh consent, kept as a hash after erasure."""

    __tablename__ = "suppressions"

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@event.listens_for(Session, "before_flush")
def _consent_events_are_append_only(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, ConsentEvent):
            raise RuntimeError("consent events are append-only evidence; they are never changed or deleted")
