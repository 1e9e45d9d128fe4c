"""Statements sent straight to the driver store exactly what SQLAlchemy Core would have stored."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, insert, select, text, update

from newsletter.database import Database
from newsletter.delivery.driver_statement import DriverStatement
from newsletter.delivery.ledger_tables import DELIVERIES, DeliveryStatus
from newsletter.edition.stored import Edition
from subscribers import Consent, Status
from subscribers.models import Subscriber

WHEN = dt.datetime(2026, 11, 28, 20, 15, 7, 123456, tzinfo=dt.UTC)


def _rows(database: Database) -> tuple[int, list[int]]:
    database.store.add_many(
        [(f"r{i}@example.org", f"R {i}") for i in range(4)], status=Status.confirmed, consent=Consent("t")
    )
    with database.engine.begin() as connection:
        edition_id = connection.execute(
            insert(Edition.__table__).returning(Edition.__table__.c.id),
            {
                "key": "k",
                "subject": "s",
                "html": "",
                "text": "",
                "content_hash": "h",
                "digest_json": "{}",
                "status": "draft",
                "created_at": WHEN,
            },
        ).scalar_one()
        ids = list(connection.execute(select(Subscriber.id).order_by(Subscriber.id)).scalars())
        connection.execute(
            insert(DELIVERIES),
            [
                {
                    "edition_id": edition_id,
                    "subscriber_id": sid,
                    "status": DeliveryStatus.sending,
                    "attempts": 1,
                    "message_id": f"<m{sid}>",
                    "provider_id": "",
                    "last_error": "",
                    "updated_at": WHEN,
                }
                for sid in ids
            ],
        )
    return edition_id, ids


def test_an_executemany_through_the_driver_stores_what_core_stores(database: Database) -> None:
    edition_id, ids = _rows(database)
    table = DELIVERIES
    statement = (
        update(table)
        .where(table.c.edition_id == bindparam("e"), table.c.subscriber_id == bindparam("s"))
        .values(
            status=bindparam("status"),
            next_attempt_at=bindparam("next_at"),
            updated_at=bindparam("updated_at"),
        )
    )
    shared = {"e": edition_id, "updated_at": WHEN}
    rows = [{"s": sid, "status": DeliveryStatus.deferred, "next_at": WHEN} for sid in ids[:2]]
    raw = database.engine.raw_connection()
    try:
        DriverStatement(statement, database.engine.dialect).execute_many(raw, rows, shared)
        raw.commit()
    finally:
        raw.close()
    with database.engine.begin() as connection:  # the other two the usual way
        connection.execute(
            statement,
            [{**shared, "s": sid, "status": DeliveryStatus.deferred, "next_at": WHEN} for sid in ids[2:]],
        )
        stored = connection.execute(
            text("SELECT status, next_attempt_at, updated_at FROM deliveries ORDER BY subscriber_id")
        ).all()
        parsed = connection.execute(select(table.c.next_attempt_at).order_by(table.c.subscriber_id)).scalars()
        assert [value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value for value in parsed] == [
            WHEN
        ] * 4
    assert len(set(stored)) == 1 and stored[0][0] == "deferred"  # the same bytes, whichever way


def test_a_query_through_the_driver_fills_in_the_values_written_into_it(database: Database) -> None:
    edition_id, ids = _rows(database)
    query = (
        select(DELIVERIES.c.subscriber_id)
        .where(DELIVERIES.c.edition_id == bindparam("e"), DELIVERIES.c.status == DeliveryStatus.sending)
        .order_by(DELIVERIES.c.subscriber_id)
        .limit(bindparam("n"))
    )
    raw = database.engine.raw_connection()
    try:
        found = DriverStatement(query, database.engine.dialect).fetch_all(raw, {"e": edition_id, "n": 3})
        raw.rollback()
    finally:
        raw.close()
    assert [row[0] for row in found] == ids[:3]
