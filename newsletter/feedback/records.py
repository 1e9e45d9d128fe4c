"""The feedback table: every event any source reported, once (``dedupe_key`` is unique).

Each source (SendGrid webhook, DSN/ARF mailbox, SMTP replies at send time, one-click and mailto
unsubscribes) writes rows of the same shape; one policy reads them. Keeping the raw evidence here is
what lets ``newsletter subscribers show`` explain any suppression later.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import DateTime, Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from subscribers.db import Base
from subscribers.models import BigId, utcnow


class FeedbackKind(enum.StrEnum):
    hard_bounce = "hard_bounce"
    soft_bounce = "soft_bounce"
    complaint = "complaint"
    unsubscribe = "unsubscribe"
    delivered = "delivered"
    deferred = "deferred"
    auto_reply = "auto_reply"


class FeedbackRecord(Base):
    __tablename__ = "feedback_events"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    source: Mapped[str] = mapped_column(String(32))
    kind: Mapped[FeedbackKind] = mapped_column(
        Enum(FeedbackKind, name="feedback_kind", native_enum=False, length=16)
    )
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), index=True
    )
    edition_id: Mapped[int | None] = mapped_column(ForeignKey("editions.id", ondelete="SET NULL"), index=True)
    recipient: Mapped[str] = mapped_column(String(320), default="")
    status: Mapped[str] = mapped_column(String(16), default="")
    diagnostic: Mapped[str] = mapped_column(Text, default="")
    # The vocabulary of feedback/reasons.py, and whose fault it was (recipient, sender, network or "").
    reason: Mapped[str] = mapped_column(String(24), default="", server_default="")
    fault: Mapped[str] = mapped_column(String(16), default="", server_default="")
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
