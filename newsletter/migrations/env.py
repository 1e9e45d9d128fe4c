"""Alembic environment: one migration history for the whole database (store, editions, ledger)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import newsletter.delivery.batches
import newsletter.delivery.leases
import newsletter.delivery.ledger
import newsletter.feedback.records
import newsletter.shared_limits
import newsletter.web.desk.editors  # noqa: F401
import subscribers.models  # noqa: F401
from subscribers.db import Base, make_engine

target_metadata = Base.metadata


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("no database URL given to the migration environment")
    engine = make_engine(url)
    with engine.begin() as conn:
        run(conn)
    engine.dispose()
