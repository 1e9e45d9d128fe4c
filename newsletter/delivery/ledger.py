"""The delivery ledger: who got what, when, with which result (the editions live in ``editions``).

One ``deliveries`` row per edition x subscriber (unique), written before the transport call (status
``sending``) and after it (the result). That row is the truth a resumed send reads: final rows
(accepted, failed, bounced) are never sent again; ``sending`` rows are the ones that were in flight when
a process died, and ``deferred`` rows met a temporary failure: both are sent again, with the same
Message-ID. Every statement covers a batch: one round trip per batch, not per recipient. The two a
send runs most often (the page read, the result writes) are compiled once and go straight to the driver
(``DriverStatement``) over the one connection a send holds; the rest go through SQLAlchemy Core.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import DateTime, Engine, String, bindparam, cast, func, insert, literal, select, true, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection

from newsletter.delivery.driver_statement import DriverStatement
from newsletter.delivery.ledger_tables import (
    DEFERRED,
    DELIVERIES,
    DELIVERY_SUBSCRIBER,
    FINAL_VALUES,
    Delivery,
    DeliveryStatus,
    aware,
    ids_in,
    ids_param,
)
from newsletter.edition.stored import EditionArchive
from subscribers.models import Status as SubscriberStatus
from subscribers.models import Subscriber, utcnow
from subscribers.store import Recipient

__all__ = [
    "WHOLE_LIST",
    "Delivery",
    "DeliveryStatus",
    "Ledger",
    "LedgerResult",
    "PendingBatch",
    "Shard",
    "aware",
]
"""``Delivery``, ``DeliveryStatus`` and ``aware`` live in ledger_tables; named here too for older imports."""


@dataclasses.dataclass(frozen=True)
class Shard:
    """The part of the list one sending process handles: subscriber ids with ``id % count == index``."""

    index: int = 0
    count: int = 1


WHOLE_LIST = Shard()


@dataclasses.dataclass(slots=True)
class PendingBatch:
    """One page of the confirmed list as the ledger sees it for one edition."""

    last_id: int  # where the next page starts
    read: int  # subscribers on this page
    settled: int = 0  # final rows: never sent again
    to_send: list[Recipient] = dataclasses.field(default_factory=list)
    attempts: dict[int, int] = dataclasses.field(default_factory=dict)  # of rows that exist, to send again


@dataclasses.dataclass(slots=True)
class LedgerResult:  # not frozen, for speed: see OutboundMessage
    """What the send loop learned about one delivery, ready to be written."""

    subscriber_id: int
    status: DeliveryStatus
    provider_id: str = ""
    error: str = ""
    next_attempt_at: dt.datetime | None = None


class Ledger(EditionArchive):
    """Reads and writes of the two tables, in the shapes the send loop needs."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        super().__init__(session_factory)
        self._engine: Engine = session_factory.kw["bind"]
        self._dialect = self._engine.dialect.name
        self._statements: tuple[DriverStatement, DriverStatement] | None = None
        self._held: PoolProxiedConnection | None = None
        self._pending: dict[bool, tuple[DriverStatement, Callable[[Any], Any] | None]] = {}

    def has_deliveries(self, edition_id: int) -> bool:
        with self._sessions() as session:
            query = select(Delivery.id).where(Delivery.edition_id == edition_id).limit(1)
            return session.scalar(query) is not None

    def pending_batch(
        self, edition_id: int, after_id: int, limit: int, now: dt.datetime, shard: Shard = WHOLE_LIST
    ) -> PendingBatch:
        """The next ``limit`` confirmed subscribers after ``after_id``, sorted by what this edition owes them.

        One keyset query joins each subscriber to their delivery of the edition (if any): final rows are
        settled, deferrals not yet due wait, and everything else is sent now (no row yet, ``sending`` left
        by a crash, a due deferral), with the attempts it already had.
        """
        query, to_datetime = self._pending_query(shard.count > 1)
        with self._connection() as connection:
            params: dict[str, object] = {"e": edition_id, "after": after_id, "n": limit}
            if shard.count > 1:
                params.update(shards=shard.count, shard=shard.index)
            rows = query.fetch_all(connection, params)
            connection.rollback()  # end the read's transaction (PostgreSQL opens one for a SELECT)
        batch = PendingBatch(last_id=rows[-1][0] if rows else after_id, read=len(rows))
        to_send, attempts = batch.to_send, batch.attempts
        for sid, email, name, status, tries, next_at in rows:
            if status is None:
                to_send.append(Recipient(sid, email, name))
            elif status in FINAL_VALUES:
                batch.settled += 1
            elif (
                status == DEFERRED
                and next_at is not None
                and aware(to_datetime(next_at) if to_datetime else next_at) > now
            ):
                continue  # deferred, not yet due: the retry pass sends it
            else:
                to_send.append(Recipient(sid, email, name))
                attempts[sid] = tries
        return batch

    def _pending_query(self, sharded: bool) -> tuple[DriverStatement, Callable[[Any], Any] | None]:
        """The page query, compiled once per shape; rows come back raw (a page is thousands of rows).

        PostgreSQL plans it from statistics that lag behind a send: an edition's rows are all new, so
        the planner takes ``edition_id = :e`` for a handful of rows and sorts or hashes all of them
        on every page (a page read grew from 1 ms to 75 ms at 100,000 delivered). A lateral probe of
        the unique (edition_id, subscriber_id) index costs the same on every page whatever the
        statistics say. The shard filter is left out for the whole list: ``id % 1 = 0`` only made the
        planner think the page rare, and take a sequential scan and a sort of the rest of the list.
        """
        cached = self._pending.get(sharded)
        if cached is not None:
            return cached
        subscribers = Subscriber.__table__
        dialect = self._engine.dialect
        wanted = (DELIVERIES.c.status, DELIVERIES.c.attempts, DELIVERIES.c.next_attempt_at)
        if dialect.name == "postgresql":
            probe = (
                select(*wanted)
                .where(
                    DELIVERIES.c.edition_id == bindparam("e"), DELIVERIES.c.subscriber_id == subscribers.c.id
                )
                .limit(1)
                .lateral("d")
            )
            joined = subscribers.outerjoin(probe, true())
            delivery = (probe.c.status, probe.c.attempts, probe.c.next_attempt_at)
        else:
            joined = subscribers.outerjoin(
                DELIVERIES,
                (DELIVERIES.c.subscriber_id == subscribers.c.id)
                & (DELIVERIES.c.edition_id == bindparam("e")),
            )
            delivery = wanted
        conditions = [
            subscribers.c.status == SubscriberStatus.confirmed,
            subscribers.c.id > bindparam("after"),
        ]
        if sharded:
            conditions.append(subscribers.c.id % bindparam("shards") == bindparam("shard"))
        query = (
            select(subscribers.c.id, subscribers.c.email, subscribers.c.name, *delivery)
            .select_from(joined)
            .where(*conditions)
            .order_by(subscribers.c.id)
            .limit(bindparam("n"))
        )
        # SQLite keeps timestamps as text: the column type's own processor reads them back
        column_type = DELIVERIES.c.next_attempt_at.type.dialect_impl(dialect)
        to_datetime = column_type.result_processor(dialect, None)
        self._pending[sharded] = (DriverStatement(query, dialect), to_datetime)
        return self._pending[sharded]

    @contextlib.contextmanager
    def _connection(self) -> Iterator[PoolProxiedConnection]:
        """The connection a send holds, or one from the pool for this call."""
        if self._held is not None:
            yield self._held
            return
        connection = self._engine.raw_connection()
        try:
            yield connection
        finally:
            connection.close()

    def begin_attempts(
        self, edition_id: int, rows: Iterable[tuple[int, str]], known: Mapping[int, int] | None = None
    ) -> dict[int, int]:
        """Mark (subscriber id, Message-ID) ``sending`` before the transport sees them; returns attempt no.

        One transaction whatever the batch size: new rows inserted by one statement, rows seen before
        (deferred, or left ``sending`` by a crash) bumped in one UPDATE. ``known`` (the attempts of the rows
        that exist, as ``pending_batch`` just read them) saves reading them again.
        """
        rows = list(rows)
        if not rows:
            return {}
        ids = [subscriber_id for subscriber_id, _ in rows]
        now = utcnow()
        with self._sessions.begin() as session:
            if known is None:
                known = {
                    sid: attempts
                    for sid, attempts in session.execute(
                        select(Delivery.subscriber_id, Delivery.attempts).where(
                            Delivery.edition_id == edition_id,
                            ids_in(self._dialect, DELIVERY_SUBSCRIBER, ids),
                        ),
                    )
                }
            fresh = [(sid, mid) for sid, mid in rows if sid not in known]
            if fresh:
                self._insert_sending(session, edition_id, fresh, now)
            if known:
                session.execute(
                    update(Delivery)
                    .where(
                        Delivery.edition_id == edition_id, ids_in(self._dialect, DELIVERY_SUBSCRIBER, known)
                    )
                    .values(
                        status=DeliveryStatus.sending,
                        attempts=Delivery.attempts + 1,
                        next_attempt_at=None,
                        updated_at=now,
                    ),
                )
        return {sid: known.get(sid, 0) + 1 for sid in ids}

    def _insert_sending(
        self, session: Session, edition_id: int, rows: list[tuple[int, str]], now: dt.datetime
    ) -> None:
        """Insert ``sending`` rows. When every Message-ID is ``<prefix><subscriber id><suffix>`` (the normal
        case) one ``INSERT … SELECT`` builds them in SQL, with no per-row work in Python; otherwise an
        executemany of the given values."""
        sid, mid = rows[0]
        prefix, found, suffix = mid.rpartition(str(sid))
        if found and all(m == f"{prefix}{s}{suffix}" for s, m in rows):
            built = literal(prefix, String) + cast(Subscriber.id, String) + literal(suffix, String)
            query = select(
                literal(edition_id),
                Subscriber.id,
                literal(DeliveryStatus.sending.value),
                literal(1),
                built,
                literal(""),
                literal(""),
                literal(now, DateTime(timezone=True)),
            )
            columns = [
                "edition_id",
                "subscriber_id",
                "status",
                "attempts",
                "message_id",
                "provider_id",
                "last_error",
                "updated_at",
            ]
            ids = [s for s, _ in rows]
            session.execute(
                insert(DELIVERIES).from_select(
                    columns, query.where(ids_in(self._dialect, "subscribers.id", ids))
                ),
            )
            return
        values = [
            {
                "edition_id": edition_id,
                "subscriber_id": s,
                "status": DeliveryStatus.sending,
                "attempts": 1,
                "message_id": m,
                "provider_id": "",
                "last_error": "",
                "updated_at": now,
            }
            for s, m in rows
        ]
        session.connection().execute(insert(DELIVERIES), values)  # Core: no ORM bookkeeping

    def record(self, edition_id: int, results: Sequence[LedgerResult]) -> None:
        """Write results in one transaction, with statements compiled once per Ledger.

        Results that share everything but the subscriber (a SendGrid request: one X-Message-Id for up to
        1,000 recipients) become one ``UPDATE … WHERE subscriber_id IN (…)``; the rest one executemany.
        This runs every few results during a send, so it skips the ORM and SQLAlchemy's per-execution
        work: the statements go to the driver as compiled once (``DriverStatement``), over the connection
        a send holds (``holding_connection``): ~50 µs for a group of eight rows on SQLite, not ~260.
        """
        if not results:
            return
        now = utcnow()
        groups: dict[tuple[DeliveryStatus, str, str, dt.datetime | None], list[int]] = {}
        for r in results:
            key = (r.status, r.provider_id[:255], r.error[:2000], r.next_attempt_at)
            groups.setdefault(key, []).append(r.subscriber_id)
        grouped, single = self._record_statements()
        shared: dict[str, object] = {"e": edition_id, "updated_at": now}
        outcomes = [
            ({"status": status, "provider_id": provider_id, "last_error": error, "next_at": next_at}, ids)
            for (status, provider_id, error, next_at), ids in groups.items()
        ]
        rows: list[dict[str, object]]
        if len(groups) <= 4:
            statement = grouped
            rows = [{**outcome, "ids": ids_param(self._dialect, ids)} for outcome, ids in outcomes]
        else:
            statement = single
            rows = [{**outcome, "s": sid} for outcome, ids in outcomes for sid in ids]
        with self._connection() as connection:
            try:
                statement.execute_many(connection, rows, shared)
                connection.commit()
            except BaseException:
                connection.rollback()
                raise

    @contextlib.contextmanager
    def holding_connection(self) -> Iterator[None]:
        """Within the block, ``record`` writes over one connection instead of one from the pool each time.

        A send writes a group of results every few milliseconds; checking a connection out of the pool and
        back (with its reset) for each would cost more than the write. One thread only: the send's.
        """
        if self._held is not None:
            yield
            return
        self._held = self._engine.raw_connection()
        try:
            yield
        finally:
            held, self._held = self._held, None
            held.close()

    def _record_statements(self) -> tuple[DriverStatement, DriverStatement]:
        if self._statements is None:
            table = DELIVERIES
            values: dict[str, Any] = {
                "status": bindparam("status"),
                "provider_id": bindparam("provider_id"),
                "last_error": bindparam("last_error"),
                "next_attempt_at": bindparam("next_at"),
                "updated_at": bindparam("updated_at"),
            }
            grouped = (
                update(table)
                .where(table.c.edition_id == bindparam("e"), ids_in(self._dialect, DELIVERY_SUBSCRIBER))
                .values(**values)
            )
            single = (
                update(table)
                .where(table.c.edition_id == bindparam("e"), table.c.subscriber_id == bindparam("s"))
                .values(**values)
            )
            dialect = self._engine.dialect
            self._statements = (DriverStatement(grouped, dialect), DriverStatement(single, dialect))
        return self._statements

    def release(self, edition_id: int, subscriber_ids: Sequence[int], error: str) -> None:
        """Rows marked ``sending`` that the transport never tried: back to deferred, attempt not counted."""
        if not subscriber_ids:
            return
        with self._sessions.begin() as session:
            for start in range(0, len(subscriber_ids), 5000):
                chunk = list(subscriber_ids[start : start + 5000])
                session.execute(
                    update(Delivery)
                    .where(
                        Delivery.edition_id == edition_id,
                        ids_in(self._dialect, DELIVERY_SUBSCRIBER, chunk),
                        Delivery.status == DeliveryStatus.sending,
                    )
                    .values(
                        status=DeliveryStatus.deferred,
                        attempts=Delivery.attempts - 1,
                        last_error=error[:2000],
                        next_attempt_at=None,
                        updated_at=utcnow(),
                    ),
                )

    def _retry_query(self, edition_id: int, shard: Shard) -> Any:
        query = (
            select(Subscriber.id, Subscriber.email, Subscriber.name, Delivery.next_attempt_at)
            .join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .where(
                Delivery.edition_id == edition_id,
                Subscriber.status == SubscriberStatus.confirmed,
                Delivery.status.in_((DeliveryStatus.deferred, DeliveryStatus.sending)),
            )
        )
        if shard.count > 1:
            query = query.where(Subscriber.id % shard.count == shard.index)
        return query

    def due_retries(
        self, edition_id: int, now: dt.datetime, limit: int, after_id: int = 0, shard: Shard = WHOLE_LIST
    ) -> list[tuple[int, str, str]]:
        """(id, email, name) of still-confirmed subscribers whose deferred delivery is due, by id."""
        query = (
            self._retry_query(edition_id, shard)
            .where(
                Subscriber.id > after_id,
                (Delivery.next_attempt_at.is_(None)) | (Delivery.next_attempt_at <= now),
            )
            .order_by(Subscriber.id)
            .limit(limit)
        )
        with self._sessions() as session:
            return [(row.id, row.email, row.name) for row in session.execute(query)]

    def next_retry_at(self, edition_id: int, shard: Shard = WHOLE_LIST) -> dt.datetime | None:
        """When the earliest still-pending deferral of a confirmed subscriber is due; None: nothing left."""
        query = self._retry_query(edition_id, shard)
        query = query.order_by(Delivery.next_attempt_at.asc().nulls_first()).limit(1)
        with self._sessions() as session:
            row = session.execute(query).first()
        if row is None:
            return None
        return aware(row.next_attempt_at) if row.next_attempt_at is not None else utcnow()

    def counts(self, edition_id: int) -> dict[str, int]:
        totals = {status.value: 0 for status in DeliveryStatus}
        with self._sessions() as session:
            rows = session.execute(
                select(Delivery.status, func.count())
                .where(Delivery.edition_id == edition_id)
                .group_by(Delivery.status)
            )
            for status, count in rows:
                totals[DeliveryStatus(status).value] = count
        return totals
