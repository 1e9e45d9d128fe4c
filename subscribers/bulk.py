"""Writing a large import: rows staged in a temporary table, then added to the list by one statement.

The importer hands over checked rows chunk by chunk; they go to a temporary table of the import's own
transaction (SQLite: ``executemany``; PostgreSQL: ``COPY``), so neither the file nor its addresses are
ever held in memory. ``finish`` then deduplicates (the first row of an address wins, as in the file),
leaves out addresses already listed or suppressed after an erasure (they need fresh consent through the
signup form), and inserts the subscribers and their consent events with ``INSERT … SELECT``. It all
happens in the caller's transaction: a crash or an error before the commit writes nothing.

On SQLite the list itself is written only by ``finish``, so the database's write lock is held for
those statements, not for the whole reading of the file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, DateTime, TextClause, bindparam, text
from sqlalchemy.exc import IntegrityError

from subscribers.errors import StoreError
from subscribers.models import ConsentKind, Status
from subscribers.validation import email_hash

Row = tuple[int, str, str]  # line, normalised address, cleaned name


@dataclasses.dataclass(frozen=True)
class Staged:
    added: int
    already_listed: int  # listed before, or suppressed after an erasure
    duplicates_in_file: int


@dataclasses.dataclass(frozen=True)
class NewRows:
    """The values every subscriber and consent event of one import share."""

    status: Status
    source: str
    kind: ConsentKind
    at: dt.datetime
    event_source: str
    ip: str | None
    user_agent: str | None
    detail: str

    def params(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "source": self.source,
            "now": self.at,
            "confirmed_at": self.at if self.status is Status.confirmed else None,
            "kind": self.kind.value,
            "event_source": self.event_source,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "detail": self.detail,
        }


class Staging(Protocol):
    """What the importer needs of the database: stage checked rows, then add them all."""

    def stage(self, rows: Sequence[Row]) -> None: ...

    def finish(self) -> Staged: ...


def _typed(sql: str) -> TextClause:
    """A statement whose timestamps are bound as the columns' type (SQLite stores them as text)."""
    stamp = DateTime(timezone=True)
    names = [name for name in ("now", "confirmed_at") if f":{name}" in sql]
    return text(sql).bindparams(*(bindparam(name, type_=stamp) for name in names))


# -- SQLite -----------------------------------------------------------------------------------------

SQLITE_DROP = "DROP TABLE IF EXISTS temp.import_rows"
SQLITE_CREATE = (
    "CREATE TEMP TABLE import_rows (email TEXT PRIMARY KEY, name TEXT NOT NULL, line INTEGER NOT NULL, "
    "hash TEXT NOT NULL) WITHOUT ROWID"
)
SQLITE_STAGE = "INSERT OR IGNORE INTO temp.import_rows (email, name, line, hash) VALUES (?, ?, ?, ?)"
SQLITE_ADD = _typed(
    "INSERT INTO subscribers (email, name, status, source, created_at, updated_at, confirmed_at) "
    "SELECT r.email, r.name, :status, :source, :now, :now, :confirmed_at FROM temp.import_rows r "
    "WHERE NOT EXISTS (SELECT 1 FROM subscribers s WHERE s.email = r.email) "
    "AND NOT EXISTS (SELECT 1 FROM suppressions p WHERE p.email_hash = r.hash) "
    "ORDER BY r.line"
)
SQLITE_LAST_ID = "SELECT max(id) FROM subscribers"
# The rows just added hold the highest ids, one after the other: AUTOINCREMENT numbers the rows of one
# statement in turn, and the transaction holds the write lock, so no other writer came in between.
SQLITE_EVENTS = _typed(
    "INSERT INTO consent_events (subscriber_id, kind, at, source, ip, user_agent, detail) "
    "SELECT id, :kind, :now, :event_source, :ip, :user_agent, :detail FROM subscribers WHERE id > :after"
)


class SqliteStaging:
    def __init__(self, connection: Connection, new: NewRows) -> None:
        self._connection = connection
        self._new = new
        self._offered = 0
        self._kept = 0
        connection.exec_driver_sql(SQLITE_DROP)
        connection.exec_driver_sql(SQLITE_CREATE)

    def stage(self, rows: Sequence[Row]) -> None:
        cursor = self._connection.connection.cursor()
        try:
            cursor.executemany(SQLITE_STAGE, [(e, n, line, email_hash(e)) for line, e, n in rows])
            self._kept += cursor.rowcount
        finally:
            cursor.close()
        self._offered += len(rows)

    def finish(self) -> Staged:
        params = self._new.params()
        added = self._connection.execute(SQLITE_ADD, params).rowcount
        if added:
            last = self._connection.exec_driver_sql(SQLITE_LAST_ID).scalar_one()
            self._connection.execute(SQLITE_EVENTS, {**params, "after": last - added})
        self._connection.exec_driver_sql(SQLITE_DROP)
        return Staged(added, self._kept - added, self._offered - self._kept)


# -- PostgreSQL ---------------------------------------------------------------------------------------

RACE_ATTEMPTS = 3
POSTGRES_CREATE = "CREATE TEMP TABLE import_rows (line bigint, email text, name text) ON COMMIT DROP"
POSTGRES_STAGE = "COPY import_rows (line, email, name) FROM STDIN"
# One statement: the first row of each address, those neither listed nor suppressed added in file order,
# an event for each added subscriber (RETURNING feeds it the new ids), and the two counts. No ON CONFLICT:
# it costs a fifth of the statement's time (4-5 s of 21-25 s for 1,000,000 rows); the rare signup that
# races the import is handled by running the statement again (``PostgresStaging.finish``).
POSTGRES_ADD = text(
    "WITH firsts AS MATERIALIZED ("
    "  SELECT DISTINCT ON (email) email, name, line FROM import_rows ORDER BY email, line"
    "), added AS ("
    "  INSERT INTO subscribers (email, name, status, source, created_at, updated_at, confirmed_at)"
    "  SELECT f.email, f.name, :status, :source, :now, :now, CAST(:confirmed_at AS timestamptz)"
    "  FROM firsts f"
    "  WHERE NOT EXISTS (SELECT 1 FROM subscribers s WHERE s.email = f.email)"
    "  AND NOT EXISTS (SELECT 1 FROM suppressions p"
    "                  WHERE p.email_hash = encode(sha256(convert_to(f.email, 'UTF8')), 'hex'))"
    "  ORDER BY f.line"
    "  RETURNING id"
    "), events AS ("
    "  INSERT INTO consent_events (subscriber_id, kind, at, source, ip, user_agent, detail)"
    "  SELECT id, :kind, :now, :event_source, CAST(:ip AS text), CAST(:user_agent AS text), :detail"
    "  FROM added RETURNING subscriber_id"
    ") SELECT (SELECT count(*) FROM firsts) AS distinct_rows, (SELECT count(*) FROM events) AS added"
)


class PostgresStaging:
    def __init__(self, connection: Connection, new: NewRows) -> None:
        self._connection = connection
        self._new = new
        self._offered = 0
        connection.exec_driver_sql(POSTGRES_CREATE)

    def stage(self, rows: Sequence[Row]) -> None:
        cursor: Any = self._connection.connection.cursor()
        try:
            with cursor.copy(POSTGRES_STAGE) as copy:
                for row in rows:
                    copy.write_row(row)
        finally:
            cursor.close()
        self._offered += len(rows)

    def finish(self) -> Staged:
        for _attempt in range(RACE_ATTEMPTS):
            savepoint = self._connection.begin_nested()
            try:
                distinct, added = self._connection.execute(POSTGRES_ADD, self._new.params()).one()
            except IntegrityError:
                # A signup of an address in the file committed while this statement ran: the statement is
                # undone to the savepoint and run again, and now finds that address listed.
                savepoint.rollback()
                continue
            savepoint.commit()
            return Staged(added, distinct - added, self._offered - distinct)
        raise StoreError("the list kept changing under the import; nothing was imported, please try again")


def open_staging(connection: Connection, new: NewRows) -> Staging:
    if connection.dialect.name == "postgresql":
        return PostgresStaging(connection, new)
    if connection.dialect.name == "sqlite":
        return SqliteStaging(connection, new)
    raise StoreError(f"bulk import supports SQLite and PostgreSQL, not {connection.dialect.name}")
