"""The delivery tables and the SQL shapes the ledger builds on: one row per edition x subscriber.

Kept apart from the ``Ledger`` (ledger.py), which reads and writes them for the send loop, so the
feedback, privacy and stats modules that only query ``deliveries`` import the schema, not the send's
machinery. The editions table lives with the stored edition (newsletter/edition/stored.py).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Iterable
from typing import Literal

from sqlalchemy import (
    BigInteger,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import TextClause

from subscribers.db import Base
from subscribers.models import BigId, utcnow


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
FINAL_VALUES = frozenset(s.value for s in FINAL_STATUSES)  # as a raw row holds them
DEFERRED = DeliveryStatus.deferred.value


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


DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
"""The table itself, for Core statements: executemany without the ORM's per-row bookkeeping."""


DELIVERY_SUBSCRIBER: Literal["deliveries.subscriber_id"] = "deliveries.subscriber_id"


IdColumn = Literal["deliveries.subscriber_id", "subscribers.id"]


def ids_in(dialect: str, column: IdColumn, ids: Iterable[int] | None = None) -> TextClause:
    """``column`` is one of ``ids``, as one bound parameter (``:ids``) whatever the number of ids.

    A batch names up to a few thousand subscribers. SQLAlchemy's expanding IN spends several µs of Python
    per value on every execution, and SQL with the values written in is new text each time (the driver
    then keeps a large prepared statement per batch: tens of MB over a long send). So the list goes as one
    value: a JSON array read by ``json_each`` on SQLite, an array with ``= ANY`` on PostgreSQL. Without
    ``ids`` the parameter is left to be given at execution (see ``ids_param``).
    """
    value = None if ids is None else ids_param(dialect, ids)
    if dialect == "sqlite":
        sql = f"{column} IN (SELECT value FROM json_each(:ids))"  # noqa: S608 (a fixed column name)
        return text(sql).bindparams(bindparam("ids", value, type_=String()))
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY  # not imported at all for a SQLite database

        # The bounds let the index bound the scan when the planner takes ``edition_id = :e`` for a few
        # rows (statistics lag behind a send): without them it read every row of the edition so far.
        array = "CAST(:ids AS BIGINT[])"
        sql = (
            f"{column} = ANY({array}) AND {column} BETWEEN (SELECT min(v) FROM unnest({array}) v) "  # noqa: S608
            f"AND (SELECT max(v) FROM unnest({array}) v)"  # (a fixed column name)
        )
        return text(sql).bindparams(bindparam("ids", value, type_=ARRAY(BigInteger)))
    raise ValueError(f"the ledger supports SQLite and PostgreSQL, not {dialect}")


def ids_param(dialect: str, ids: Iterable[int]) -> str | list[int]:
    values = [int(i) for i in ids]
    return json.dumps(values) if dialect == "sqlite" else values


def aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands timestamps back naive; everything here is stored in UTC.

    (SQLAlchemy's SQLite ``DateTime`` writes an aware UTC value as naive UTC text, so comparisons in SQL
    against an aware UTC parameter are consistent on both SQLite and PostgreSQL.)
    """
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
