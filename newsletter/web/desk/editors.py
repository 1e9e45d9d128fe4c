"""Editors: the people who may use the desk, in their own table, apart from the subscriber store.

Passwords are hashed with Argon2id (argon2-cffi, its default parameters) and never stored or logged in
the clear. An editor starts without a password; ``newsletter editors add`` prints a link to set one.
That link, and every desk session, carries the editor's *generation*: a short digest of the current
password hash. Setting a password changes it, so a used link is dead (one-time) and every session
signed in under the old password ends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import DateTime, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from newsletter.errors import NewsletterError
from subscribers.db import Base
from subscribers.models import BigId, utcnow

NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,99}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024


class EditorError(NewsletterError):
    """An editor cannot be created or changed as asked (bad name, taken name, weak password)."""


class Editor(Base):
    __tablename__ = "editors"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    password_set_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_signin_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


def generation(editor: Editor) -> str:
    """Changes whenever the password does: what links and sessions are bound to."""
    return hashlib.sha256(f"{editor.id}:{editor.password_hash}".encode()).hexdigest()[:16]


def normalise_name(raw: str) -> str:
    name = raw.strip().lower()
    if not NAME.match(name):
        raise EditorError(
            f"editor name {raw[:100]!r}: use 1 to 100 letters, digits, '.', '_', '-' or '@', "
            "starting with a letter or digit"
        )
    return name


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise EditorError(f"the password must be at least {MIN_PASSWORD} characters long")
    if len(password) > MAX_PASSWORD:
        raise EditorError(f"the password must be at most {MAX_PASSWORD} characters long")


def password_hasher(memory_kib: int) -> argon2.PasswordHasher:
    """Argon2id with argon2-cffi's time cost and parallelism and the configured memory cost."""
    return argon2.PasswordHasher(memory_cost=memory_kib)


class EditorStore:
    """Create editors, set their passwords, and check a sign-in in about the same time whoever asks."""

    def __init__(self, sessions: sessionmaker[Session], memory_kib: int) -> None:
        self._sessions = sessions
        self._hasher = password_hasher(memory_kib)
        self._decoy = ""  # made at the first sign-in, not by every command that opens the store

    def add(self, name: str) -> Editor:
        editor = Editor(name=normalise_name(name), password_hash="")
        try:
            with self._sessions.begin() as session:
                session.add(editor)
        except IntegrityError:
            raise EditorError(f"there is already an editor called {editor.name!r}") from None
        return editor

    def get(self, editor_id: int) -> Editor | None:
        with self._sessions() as session:
            return session.get(Editor, editor_id)

    def find(self, name: str) -> Editor | None:
        with self._sessions() as session:
            return session.scalar(select(Editor).where(Editor.name == name.strip().lower()))

    def all(self) -> list[Editor]:
        with self._sessions() as session:
            return list(session.scalars(select(Editor).order_by(Editor.name)))

    def remove(self, name: str) -> bool:
        with self._sessions.begin() as session:
            editor = session.scalar(select(Editor).where(Editor.name == name.strip().lower()))
            if editor is None:
                return False
            session.delete(editor)
            return True

    def set_password(self, editor_id: int, password: str, expected_generation: str | None = None) -> Editor:
        """Set a new password; with ``expected_generation``, only if unchanged since (one-time links)."""
        check_password(password)
        hashed = self._hasher.hash(password)
        with self._sessions.begin() as session:
            editor = session.get(Editor, editor_id, with_for_update=True)
            if editor is None or (
                expected_generation is not None and generation(editor) != expected_generation
            ):
                raise EditorError("this password link has been used or is no longer valid")
            editor.password_hash = hashed
            editor.password_set_at = utcnow()
            session.flush()
            session.expunge(editor)
            return editor

    def authenticate(self, name: str, password: str) -> Editor | None:
        """The editor when name and password match; None otherwise, whichever half was wrong."""
        editor = self.find(name) if NAME.match(name.strip().lower()) else None
        if not self._decoy:
            # Verified when the name is unknown, so a wrong name costs what a wrong password costs.
            self._decoy = self._hasher.hash("decoy password, never a real one")
        stored = editor.password_hash if editor is not None and editor.password_hash else self._decoy
        try:
            self._hasher.verify(stored, password[:MAX_PASSWORD])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if editor is None or not editor.password_hash:
            return None
        with self._sessions.begin() as session:
            row = session.get(Editor, editor.id)
            if row is not None:
                row.last_signin_at = utcnow()
                if self._hasher.check_needs_rehash(row.password_hash):
                    row.password_hash = self._hasher.hash(password)
                session.flush()
                session.expunge(row)
                return row
        return None
