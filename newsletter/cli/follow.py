"""``newsletter stats EDITION --follow``: a send's live counts and rate, from the ledger alone.

However the send was started (this machine, another one, Celery workers, cron), its truth is the
``deliveries`` rows: this reads their counts every ``every`` seconds, and the rate as the rows accepted
in the last ``RATE_WINDOW`` seconds by their own timestamps, so two people following the same send from
two machines see the same figures. It ends when the edition stops sending (sent, paused, cancelled)
with nothing left in flight; Ctrl-C ends only the following, never the send.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable

import typer
from sqlalchemy import func, select

from newsletter.database import Database
from newsletter.delivery.batches import Batches
from newsletter.delivery.ledger_tables import Delivery, DeliveryStatus
from newsletter.dispatch.whereabouts import whereabouts
from newsletter.edition.stored import Edition, EditionStatus
from subscribers.models import utcnow

RATE_WINDOW = 5.0


def recent_accepted(database: Database, edition_id: int, since: dt.datetime) -> int:
    with database.sessions() as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    Delivery.edition_id == edition_id,
                    Delivery.status == DeliveryStatus.accepted,
                    Delivery.updated_at > since,
                )
            )
            or 0
        )


def snapshot(database: Database, edition: Edition, lease_seconds: float) -> dict[str, object]:
    counts = database.ledger.counts(edition.id)
    now = utcnow()
    recent = recent_accepted(database, edition.id, now - dt.timedelta(seconds=RATE_WINDOW))
    status = database.ledger.edition_status(edition.id)
    workers = Batches(database.sessions, lease_seconds).live_holders(edition.id)
    return {
        "edition": edition.key,
        "status": str(status or ""),
        "recipients": database.store.count_confirmed(),
        **counts,
        "rate": round(recent / RATE_WINDOW, 1),
        "workers": workers,
        "where": whereabouts(database, edition.id, lease_seconds).text
        if status is EditionStatus.sending
        else "",
    }


def line(row: dict[str, object]) -> str:
    workers = row["workers"]
    where = f", {len(workers)} worker(s)" if isinstance(workers, list) and workers else ""
    return (
        f"{row['edition']} [{row['status']}]: accepted {row['accepted']}/{row['recipients']}, "
        f"bounced {row['bounced']}, failed {row['failed']}, deferred {row['deferred']}, "
        f"in flight {row['sending']}; {row['rate']}/s{where}"
    )


def follow(
    database: Database,
    edition: Edition,
    *,
    every: float,
    as_json: bool,
    lease_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    try:
        while True:
            row = snapshot(database, edition, lease_seconds)
            typer.echo(json.dumps(row) if as_json else line(row))
            if row["status"] != EditionStatus.sending and not row["sending"]:
                return
            sleep(every)
    except KeyboardInterrupt:  # stop following; the send goes on
        return
