"""Editions: each rendered once, stored for the archive and for resuming, with a status of its own.

An edition's status moves only by compare-and-set (``transition_edition``), which is how two cron runs,
or a cron run and an editor, never both start the same send, and how a pause or cancel from another
process reaches a running send.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from typing import Any

from sqlalchemy import DateTime, Enum, String, Text, func, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from subscribers.db import Base
from subscribers.models import BigId, utcnow


class EditionStatus(enum.StrEnum):
    draft = "draft"
    sending = "sending"
    paused = "paused"
    cancelled = "cancelled"
    sent = "sent"


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
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    """Set by ``newsletter publish``: in the archive before (or without) a send."""

    @property
    def in_archive(self) -> bool:
        """Public once its send has started, or once the editor published it."""
        return self.started_at is not None or self.published_at is not None

    @property
    def archived_at(self) -> dt.datetime:
        """When it became public: the earlier of the send's start and the publication."""
        times = [t for t in (self.started_at, self.published_at) if t is not None]
        return min(times) if times else self.created_at


class EditionArchive:
    """Queries on the editions table; the Ledger adds the deliveries on top."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def find_edition(self, key: str) -> Edition | None:
        with self._sessions() as session:
            return session.scalar(select(Edition).where(Edition.key == key))

    def get_edition(self, edition_id: int) -> Edition | None:
        with self._sessions() as session:
            return session.get(Edition, edition_id)

    def editions(self) -> list[Edition]:
        with self._sessions() as session:
            return list(session.scalars(select(Edition).order_by(Edition.id.desc())))

    def save_edition(
        self, *, key: str, subject: str, html: str, text: str, digest_json: str, content_hash: str
    ) -> Edition:
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

    def archived_editions(self, limit: int = 500) -> list[Edition]:
        """Editions in the archive (send started, or published), newest first."""
        query = (
            select(Edition)
            .where(or_(Edition.started_at.is_not(None), Edition.published_at.is_not(None)))
            .order_by(Edition.key.desc())
            .limit(limit)
        )
        with self._sessions() as session:
            return list(session.scalars(query))

    def publish(self, edition_id: int) -> bool:
        """Put an edition in the archive now; False when it already was."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(Edition)
                .where(Edition.id == edition_id, Edition.published_at.is_(None))
                .values(published_at=utcnow())
            )
            return bool(getattr(result, "rowcount", 0))

    def edition_status(self, edition_id: int) -> EditionStatus | None:
        with self._sessions() as session:
            status = session.scalar(select(Edition.status).where(Edition.id == edition_id))
        return EditionStatus(status) if status is not None else None

    def transition_edition(
        self,
        edition_id: int,
        allowed: Iterable[EditionStatus],
        to: EditionStatus,
        transport: str | None = None,
    ) -> bool:
        """Atomically move an edition from one of ``allowed`` to ``to``; False when it was elsewhere.

        This is how two cron runs (or a cron run and an editor) never both start the same send.
        """
        values: dict[str, Any] = {"status": to}
        if transport is not None:
            values["transport"] = transport
        if to is EditionStatus.sending:
            values["started_at"] = func.coalesce(Edition.started_at, utcnow())
        if to is EditionStatus.sent:
            values["finished_at"] = utcnow()
        with self._sessions.begin() as session:
            result = session.execute(
                update(Edition)
                .where(Edition.id == edition_id, Edition.status.in_(list(allowed)))
                .values(**values)
            )
            return bool(getattr(result, "rowcount", 0))

    def schedule(self, edition_id: int, at: dt.datetime, transport: str) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(Edition)
                .where(Edition.id == edition_id)
                .values(scheduled_at=at.astimezone(dt.UTC), transport=transport)
            )

    def due_editions(self, now: dt.datetime) -> list[Edition]:
        """Scheduled drafts whose time has come, earliest first."""
        query = (
            select(Edition)
            .where(
                Edition.status == EditionStatus.draft,
                Edition.scheduled_at.is_not(None),
                Edition.scheduled_at <= now,
            )
            .order_by(Edition.scheduled_at)
        )
        with self._sessions() as session:
            return list(session.scalars(query))
