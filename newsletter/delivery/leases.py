"""Leases: how a send tells "running elsewhere" from "crashed", with no lock service and no guesswork.

A running send holds a lease on its edition: a row naming the holder (host and pid, or the workers of a
distributed send) and when it expires. The holder renews it every third of ``lease_seconds`` from a
background thread; a process that dies (kill -9, power cut) stops renewing, and once the lease expires
anybody may take it over. So ``newsletter send`` on an edition whose status is ``sending`` can say which
of the two it is: a live lease is a send running on that host, an expired (or missing) one is a crash
that ``--resume`` or ``newsletter run-due`` picks up.

Every change is one short transaction against the database all processes share; the clock is the
writer's (hosts are expected to keep time with NTP; a lease is tens of seconds, skew is milliseconds).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import DateTime, ForeignKey, String, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from newsletter.delivery.ledger_tables import aware
from newsletter.edition.stored import Edition
from newsletter.errors import SendRefused
from subscribers.db import Base
from subscribers.models import BigId, utcnow


class SendLease(Base):
    __tablename__ = "send_leases"

    edition_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True
    )
    holder: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    renewed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


LEASES: Table = SendLease.__table__  # type: ignore[assignment]


def this_process() -> str:
    """The holder name of this process: what "running elsewhere" names so a person can find it."""
    return f"{socket.gethostname()} pid {os.getpid()}"


def gone(holder: str) -> bool:
    """True when the holder is a process of this host that no longer exists (killed, crashed).

    Such a lease need not be waited out: ``send --resume`` right after a kill -9 on the same machine
    takes over at once. A holder on another host is only known dead by its lease running out.
    """
    host, _, pid = holder.rpartition(" pid ")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, under another user
        return False
    return False


@dataclasses.dataclass(frozen=True)
class LeaseState:
    holder: str
    expires_at: dt.datetime
    renewed_at: dt.datetime

    def live(self, now: dt.datetime | None = None) -> bool:
        return self.expires_at > (now or utcnow()) and not gone(self.holder)


class Leases:
    """Take, renew, release and read edition leases."""

    def __init__(self, sessions: sessionmaker[Session], seconds: float) -> None:
        self._sessions = sessions
        self.seconds = seconds

    def current(self, edition_id: int) -> LeaseState | None:
        with self._sessions() as session:
            row = session.execute(
                select(LEASES.c.holder, LEASES.c.expires_at, LEASES.c.renewed_at).where(
                    LEASES.c.edition_id == edition_id
                )
            ).first()
        return None if row is None else LeaseState(row.holder, aware(row.expires_at), aware(row.renewed_at))

    def acquire(self, edition_id: int, holder: str) -> LeaseState | None:
        """Take the lease (free, expired, or already ours); else None: ``current`` says who holds it."""
        now = utcnow()
        expires = now + dt.timedelta(seconds=self.seconds)
        with self._sessions.begin() as session:
            taken = session.execute(
                update(LEASES)
                .where(
                    LEASES.c.edition_id == edition_id,
                    (LEASES.c.holder == holder) | (LEASES.c.expires_at <= now),
                )
                .values(holder=holder, expires_at=expires, renewed_at=now)
            )
            if not getattr(taken, "rowcount", 0):
                held = session.execute(
                    select(LEASES.c.holder).where(LEASES.c.edition_id == edition_id)
                ).first()
                if held is not None and gone(held.holder):  # its process died on this host: take it over
                    taken = session.execute(
                        update(LEASES)
                        .where(LEASES.c.edition_id == edition_id, LEASES.c.holder == held.holder)
                        .values(holder=holder, expires_at=expires, renewed_at=now)
                    )
            if getattr(taken, "rowcount", 0):
                return LeaseState(holder, expires, now)
            try:
                with session.begin_nested():
                    session.execute(
                        insert(LEASES).values(
                            edition_id=edition_id, holder=holder, expires_at=expires, renewed_at=now
                        )
                    )
            except IntegrityError:  # somebody holds a live lease
                return None
        return LeaseState(holder, expires, now)

    def renew(self, edition_id: int, holder: str) -> bool:
        """Extend our lease; False when it is no longer ours (it expired and somebody took it over)."""
        now = utcnow()
        with self._sessions.begin() as session:
            result = session.execute(
                update(LEASES)
                .where(LEASES.c.edition_id == edition_id, LEASES.c.holder == holder)
                .values(expires_at=now + dt.timedelta(seconds=self.seconds), renewed_at=now)
            )
            return bool(getattr(result, "rowcount", 0))

    def release(self, edition_id: int, holder: str) -> None:
        with self._sessions.begin() as session:
            session.execute(
                delete(LEASES).where(LEASES.c.edition_id == edition_id, LEASES.c.holder == holder)
            )

    @contextmanager
    def hold(self, edition: Edition, holder: str) -> Iterator[LeaseKeeper]:
        """Take the edition's lease (SendRefused, saying where, when it is live elsewhere), renew it
        from a background thread while the block runs, and release it after."""
        if self.acquire(edition.id, holder) is None:
            where = describe(self.current(edition.id))
            raise SendRefused(f"the send of edition {edition.key} is running elsewhere: {where}")
        edition_id = edition.id
        keeper = LeaseKeeper(self, edition_id, holder)
        keeper.start()
        try:
            yield keeper
        finally:
            keeper.stop()
            self.release(edition_id, holder)


class LeaseKeeper(threading.Thread):
    """Renews one lease every third of its length; ``lost`` is set if a renewal finds it taken over."""

    def __init__(self, leases: Leases, edition_id: int, holder: str) -> None:
        super().__init__(name=f"lease-{edition_id}", daemon=True)
        self._leases, self._edition_id, self._holder = leases, edition_id, holder
        self._halted = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        while not self._halted.wait(self._leases.seconds / 3):
            try:
                if not self._leases.renew(self._edition_id, self._holder):
                    self.lost.set()
                    return
            except Exception:  # noqa: S112 (the database blinked: try again next round, the lease is long)
                continue

    def stop(self) -> None:
        self._halted.set()
        if self.is_alive():
            self.join(timeout=5)


def describe(state: LeaseState | None, now: dt.datetime | None = None) -> str:
    """In words: "on HOST pid N (lease renewed 3 s ago)", or who stopped renewing it and when."""
    now = now or utcnow()
    if state is None:
        return "no process holds its lease"
    if gone(state.holder):
        return f"{state.holder} is no longer running on this host: it crashed or was killed"
    if state.live(now):
        ago = max(0.0, (now - state.renewed_at).total_seconds())
        return f"on {state.holder} (lease renewed {ago:.0f} s ago)"
    stamp = state.renewed_at.isoformat(timespec="seconds")
    return f"{state.holder} stopped renewing its lease at {stamp}: it crashed or was killed"
