"""Where a send in the ``sending`` state is: running (where), waiting for retries (until when), crashed.

The edition's status alone cannot tell: ``sending`` is what a running send, a crashed one and one whose
first pass is over with deferrals waiting all show. The lease tells the first from the rest
(``delivery.leases``), the batches name the workers of a distributed send, and the ledger's next retry
time tells a send waiting on purpose from one that stopped. ``newsletter send`` and ``run-due`` act on
the answer.
"""

from __future__ import annotations

import dataclasses
import enum

from newsletter.database import Database
from newsletter.delivery.batches import Batches
from newsletter.delivery.leases import Leases, describe
from subscribers.models import utcnow


class Whereabouts(enum.StrEnum):
    running = "running"  # a live lease: somebody is sending it now
    waiting = "waiting"  # nothing in flight, deferrals due later: run-due or a worker sends them then
    due = "due"  # nothing in flight, deferrals due now: run-due (or --resume) sends them
    crashed = "crashed"  # no live lease and work left: --resume or run-due continues it


@dataclasses.dataclass(frozen=True)
class SendWhereabouts:
    state: Whereabouts
    text: str  # in words, after "the send of edition X "


def whereabouts(database: Database, edition_id: int, lease_seconds: float) -> SendWhereabouts:
    now = utcnow()
    lease = Leases(database.sessions, lease_seconds).current(edition_id)
    workers = Batches(database.sessions, lease_seconds).live_holders(edition_id)
    if (lease is not None and lease.live(now)) or workers:
        where = describe(lease, now) if lease is not None and lease.live(now) else "on workers"
        named = f"; workers: {', '.join(sorted(workers))}" if workers else ""
        return SendWhereabouts(Whereabouts.running, f"is running elsewhere: {where}{named}")
    counts = database.ledger.counts(edition_id)
    next_at = database.ledger.next_retry_at(edition_id)
    if counts["sending"] == 0 and counts["deferred"] and next_at is not None:
        waiting = f"finished its first pass; {counts['deferred']} deliveries wait for a retry"
        if next_at <= now:
            return SendWhereabouts(Whereabouts.due, f"{waiting}, due now (`newsletter run-due` sends them)")
        return SendWhereabouts(
            Whereabouts.waiting,
            f"{waiting}, the next at {next_at.isoformat(timespec='seconds')} "
            "(`newsletter run-due` or a worker sends them then)",
        )
    return SendWhereabouts(Whereabouts.crashed, f"was interrupted ({describe(lease, now)})")
