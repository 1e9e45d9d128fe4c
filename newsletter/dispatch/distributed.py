"""A send spread over Celery workers: planned and enqueued here, each batch sent by whichever worker
claims it from the ledger (``worker_tasks``), finished when the ledger says so.

``start`` (``newsletter send DIGEST --distributed``) renders nothing itself: the edition was rendered
once and stored by ``prepare_edition``; workers read it from the ``editions`` table. It marks the
edition sending, cuts the list into batches (``delivery.batches``), and puts one message per batch on
the broker. It returns at once: progress is in the ledger (``newsletter stats EDITION --follow``).

``send_batch`` is one batch on a worker: claim, send the range through the ordinary send loop with the
shared rate gate, write the results, mark the batch done (or due again when deferrals wait, or queued
when the send was paused), and, if it was the last, mark the edition sent. The broker's message is
acknowledged after this returns, so after the ledger commit.

``rescue`` (``newsletter run-due``, and workers started with ``--beat`` every minute) enqueues again the
batches nobody is working on that should have been picked up by now.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

from celery import Celery

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.batches import Batches, BatchRange
from newsletter.delivery.leases import Leases
from newsletter.delivery.prepare import PreparedEdition
from newsletter.delivery.send_loop import Sender, claim_edition
from newsletter.dispatch.celery_app import SEND_BATCH
from newsletter.edition.stored import EditionStatus
from subscribers.models import utcnow


def workers_holder(settings: Settings) -> str:
    """The edition lease's holder while workers send it: any of them renews it."""
    return f"the workers on queue {settings.worker_queue!r}"


@dataclasses.dataclass(frozen=True)
class Enqueued:
    edition: str
    batches: int
    batch_size: int
    queue: str

    def as_dict(self) -> dict[str, object]:
        return {**dataclasses.asdict(self), "distributed": True}


def start(settings: Settings, database: Database, prepared: PreparedEdition, app: Celery) -> Enqueued:
    """Mark the edition sending, plan its batches, enqueue every batch not done (a resume, too)."""
    edition = prepared.edition
    claim_edition(database.ledger, edition, settings.transport)
    # The lease is the workers' from now on: until the first of them renews it, the send is not taken
    # for crashed (another `send --resume` would race the workers), and once they all stop, it is.
    Leases(database.sessions, settings.lease_seconds).acquire(edition.id, workers_holder(settings))
    batches = Batches(database.sessions, settings.lease_seconds)
    ids = batches.plan(edition.id, settings.batch_size)
    enqueue(settings, batches, app, edition.id, ids)
    return Enqueued(edition.key, len(ids), settings.batch_size, settings.worker_queue)


def enqueue(settings: Settings, batches: Batches, app: Celery, edition_id: int, ids: list[int]) -> None:
    batches.enqueued(ids, utcnow())
    with app.producer_or_acquire() as producer:
        for batch_id in ids:
            app.send_task(
                SEND_BATCH, args=[edition_id, batch_id], queue=settings.worker_queue, producer=producer
            )


@dataclasses.dataclass(frozen=True)
class BatchOutcome:
    state: str  # sent, done (nothing to do), busy, paused, cancelled, missing
    retry_in: float | None = None  # seconds: the message is to come back then
    accepted: int = 0


def send_batch(
    settings: Settings,
    database: Database,
    sender: Sender,
    prepared_of: Callable[[int], PreparedEdition | None],
    holder: str,
    edition_id: int,
    batch_id: int,
) -> BatchOutcome:
    """One batch on a worker (see the module docstring). ``holder``: this worker, as leases name it."""
    batches = Batches(database.sessions, settings.lease_seconds)
    claim = batches.claim(batch_id, holder)
    if claim.batch is None:
        return BatchOutcome(claim.state, claim.wait + 0.5 if claim.state == "busy" else None)
    status = database.ledger.edition_status(edition_id)
    prepared = prepared_of(edition_id)
    if status is not EditionStatus.sending or prepared is None:
        cancelled = status is EditionStatus.cancelled or prepared is None
        batches.finish(batch_id, holder, done=cancelled)  # a paused batch waits for the resume
        return BatchOutcome("cancelled" if cancelled else "paused")
    leases = Leases(database.sessions, settings.lease_seconds)
    leases.acquire(edition_id, workers_holder(settings))
    keeper = ClaimKeeper(batches, leases, claim.batch, holder, (edition_id, workers_holder(settings)))
    keeper.start()
    try:
        summary = sender.send_range(
            prepared, claim.batch.first_id, claim.batch.last_id, should_stop=keeper.lost.is_set
        )
    finally:
        keeper.stop()
    if summary.stopped or keeper.lost.is_set():
        batches.finish(batch_id, holder, done=False)
        return BatchOutcome("paused", accepted=summary.accepted)
    next_at = batches.next_retry(edition_id, claim.batch)
    if next_at is not None:  # deferrals wait in the ledger; the broker brings the batch back then
        batches.finish(batch_id, holder, done=False, next_at=next_at)
        wait = max(0.0, (next_at - utcnow()).total_seconds())
        return BatchOutcome("sent", retry_in=wait, accepted=summary.accepted)
    batches.finish(batch_id, holder, done=True)
    complete_if_done(database, batches, edition_id, settings)
    return BatchOutcome("sent", accepted=summary.accepted)


def complete_if_done(database: Database, batches: Batches, edition_id: int, settings: Settings) -> bool:
    """The edition is sent once every batch is done; the last worker to finish one says so."""
    remaining = batches.remaining(edition_id)
    if remaining["queued"] or remaining["claimed"]:
        return False
    done = database.ledger.transition_edition(edition_id, (EditionStatus.sending,), EditionStatus.sent)
    Leases(database.sessions, settings.lease_seconds).release(edition_id, workers_holder(settings))
    return done


class ClaimKeeper(threading.Thread):
    """Renews this worker's claim on its batch, and the edition's lease, while the batch is sent.

    ``lost`` is set when the claim was taken over (this worker stalled past its lease, and another
    worker holds the batch now): the send loop stops before its next message.
    """

    def __init__(
        self, batches: Batches, leases: Leases, batch: BatchRange, holder: str, edition: tuple[int, str]
    ) -> None:
        super().__init__(name=f"claim-{batch.id}", daemon=True)
        self._batches, self._leases, self._batch = batches, leases, batch
        self._holder, self._edition = holder, edition
        self._halted = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        while not self._halted.wait(self._batches.lease_seconds / 3):
            try:
                if not self._batches.renew(self._batch.id, self._holder):
                    self.lost.set()
                    return
                self._leases.renew(*self._edition)
            except Exception:  # noqa: S112 (the database blinked: the lease is long enough for the next try)
                continue

    def stop(self) -> None:
        self._halted.set()
        if self.is_alive():
            self.join(timeout=5)


def rescue(settings: Settings, database: Database, app: Celery) -> dict[str, int]:
    """Enqueue again the batches of sending editions that nobody works on and that are overdue."""
    batches = Batches(database.sessions, settings.lease_seconds)
    found: dict[str, int] = {}
    for edition_id in batches.editions_with_batches():
        if database.ledger.edition_status(edition_id) is not EditionStatus.sending:
            continue
        stale = batches.stale(edition_id, grace=settings.lease_seconds)
        if stale:
            enqueue(settings, batches, app, edition_id, stale)
            edition = database.ledger.get_edition(edition_id)
            found[edition.key if edition else str(edition_id)] = len(stale)
    return found
