"""One send of an edition: in this process, or split across ``send_workers`` processes.

A send is CPU-bound in Python (tokens, personalisation, JSON or SMTP framing, ledger rows), so one
process uses one core whatever the transport's concurrency. With ``send_workers = N`` the list is split
by subscriber id (``id % N``) and N processes each run the ordinary send loop on their shard, with their
own connections and their own share of ``send_rate``. They coordinate only through the ledger, as any
send does: each one reads the edition's status (pause, cancel) and pauses it when it has to stop, so a
stop in one stops all. This process marks the edition sent once every shard has finished.

The crash guarantee is the ordinary one per process (docs/delivery.md), so a crash of the whole send can
leave N windows of messages in flight. Workers watch this process: if it dies (kill -9 included) they
exit within a second, as if killed with it, so a resumed send never races an orphan.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from newsletter.config import Settings
from newsletter.database import Database, open_database
from newsletter.delivery.leases import Leases, this_process
from newsletter.delivery.ledger import WHOLE_LIST, Shard
from newsletter.delivery.links import Links
from newsletter.delivery.prepare import PreparedEdition, stored_edition
from newsletter.delivery.send_loop import (
    ProgressCallback,
    RateGate,
    Sender,
    claim_edition,
    report_ledger_state,
)
from newsletter.delivery.send_run import SendSummary
from newsletter.delivery.transports import open_transport
from newsletter.edition.stored import EditionStatus
from newsletter.errors import SendRefused, TransportError
from newsletter.feedback.refusals import RefusalWatch

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

    from newsletter.delivery.transports.base import SendResult

PARENT_CHECK_SECONDS = 0.5
ORPHAN_EXIT = 70
COUNTED = ("recipients", "accepted", "bounced", "failed", "retried", "already_sent")


def build_sender(
    settings: Settings,
    database: Database,
    links: Links,
    shard: Shard = WHOLE_LIST,
    rate: RateGate | None = None,
) -> Sender:
    """The transport is opened here, only once a send is certain: no folder, no connection before.
    ``rate``: a gate shared with other processes (workers), instead of this process's own bucket."""
    return Sender(
        settings=settings,
        store=database.store,
        ledger=database.ledger,
        transport=open_transport(settings),
        links=links,
        on_permanent=permanent_failures(settings, database),
        watch=RefusalWatch.from_settings(settings),
        shard=shard,
        rate=rate,
    )


def permanent_failures(settings: Settings, database: Database) -> Callable[[int, SendResult], None]:
    """The Sender's hook for a 5xx at send time: the feedback policy, built at the first one.

    The policy and its classifier (SQLAlchemy's ORM queries, ~100 compiled patterns) cost more to
    import than a small send takes; a send in which every message is accepted never loads them.
    """
    handler: Callable[[int, SendResult], None] | None = None

    def handle(edition_id: int, result: SendResult) -> None:
        nonlocal handler
        if handler is None:
            from newsletter.feedback.apply import FeedbackPolicy, send_time_feedback

            handler = send_time_feedback(FeedbackPolicy(database.sessions, settings))
        handler(edition_id, result)

    return handle


def send_edition(
    settings: Settings,
    database: Database,
    links: Links,
    prepared: PreparedEdition,
    progress: ProgressCallback | None = None,
) -> SendSummary:
    """Send (or resume) the edition with ``settings.send_workers`` processes; closes the transports.

    The send holds the edition's lease (renewed in the background) from start to end: another
    ``newsletter send`` or ``run-due`` sees it running here, and once this process dies, crashed.
    """
    leases = Leases(database.sessions, settings.lease_seconds)
    with leases.hold(prepared.edition, this_process()):
        if settings.send_workers <= 1:
            sender = build_sender(settings, database, links)
            try:
                return sender.send(prepared, progress)
            finally:
                sender.close()
        return _send_in_parallel(settings, database, prepared, progress)


def _send_in_parallel(
    settings: Settings, database: Database, prepared: PreparedEdition, progress: ProgressCallback | None
) -> SendSummary:
    edition, ledger, count = prepared.edition, database.ledger, settings.send_workers
    claim_edition(ledger, edition, settings.transport)
    total = database.store.count_confirmed()
    shard_settings = settings.replace(send_rate=settings.send_rate / count)
    import multiprocessing  # only a send split over workers starts processes

    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited connections
    events: Queue[tuple[str, int, Any]] = context.Queue()
    workers = [
        context.Process(
            target=_run_shard,
            args=(shard_settings, edition.key, Shard(index, count), events, os.getpid()),
            name=f"send-{index}",
            daemon=True,
        )
        for index in range(count)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    done = [0] * count
    summaries: dict[int, SendSummary] = {}
    problems: dict[int, tuple[str, str]] = {}
    try:
        while len(summaries) + len(problems) < count:
            try:
                kind, index, payload = events.get(timeout=PARENT_CHECK_SECONDS)
            except queue.Empty:
                for index, worker in enumerate(workers):
                    if not worker.is_alive() and index not in summaries and index not in problems:
                        problems[index] = ("error", f"worker {index} exited with status {worker.exitcode}")
                continue
            if kind == "progress":
                done[index] = payload
                if progress is not None:
                    progress(sum(done), max(total, sum(done)))
            elif kind == "done":
                summaries[index] = payload
            else:
                problems[index] = (kind, payload)
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.terminate()
    return _finish(database, prepared, summaries, problems, time.perf_counter() - started)


def _finish(
    database: Database,
    prepared: PreparedEdition,
    summaries: dict[int, SendSummary],
    problems: dict[int, tuple[str, str]],
    seconds: float,
) -> SendSummary:
    """One summary for the whole send; the edition is sent only when every shard finished unstopped."""
    edition, ledger = prepared.edition, database.ledger
    first = next(iter(summaries.values()), None)
    summary = SendSummary(edition=edition.key, transport=first.transport if first else "", seconds=seconds)
    for part in summaries.values():
        for field in COUNTED:
            setattr(summary, field, getattr(summary, field) + getattr(part, field))
    summary.stop = next((p.stop for p in summaries.values() if p.stop is not None), None)
    waiting = [p.next_retry_at for p in summaries.values() if p.next_retry_at is not None]
    summary.next_retry_at = min(waiting) if waiting else None
    if problems:  # a shard could not finish: pause, so a resume picks up exactly what it left
        ledger.transition_edition(edition.id, (EditionStatus.sending,), EditionStatus.paused)
    elif summary.stop is None and summary.next_retry_at is None:
        ledger.transition_edition(edition.id, (EditionStatus.sending,), EditionStatus.sent)
    report_ledger_state(ledger, edition.id, summary)
    transport_errors = [message for kind, message in problems.values() if kind == "transport"]
    if transport_errors:
        raise TransportError(transport_errors[0])
    if problems:
        raise RuntimeError("; ".join(message for _, message in problems.values()))
    return summary


def _run_shard(
    settings: Settings, edition_key: str, shard: Shard, events: Queue[tuple[str, int, Any]], parent: int
) -> None:
    """A worker process: the ordinary send loop over one shard, reporting to the parent's queue."""
    _exit_with(parent)
    database = open_database(settings)
    try:
        edition = database.ledger.find_edition(edition_key)
        if edition is None:
            raise SendRefused(f"no edition {edition_key!r}")
        sender = build_sender(settings, database, Links(settings), shard)
        try:
            summary = sender.send(
                stored_edition(edition, settings),
                lambda done, _total: events.put(("progress", shard.index, done)),
                finish=False,
            )
        finally:
            sender.close()
        events.put(("done", shard.index, summary))  # pickled whole: the stop keeps its reason
    except TransportError as exc:
        events.put(("transport", shard.index, str(exc)))
    except Exception as exc:  # reported by the parent, which pauses the edition
        events.put(("error", shard.index, f"worker {shard.index}: {type(exc).__name__}: {exc}"))
    finally:
        database.close()


def _exit_with(parent: int) -> None:
    """Exit at once (like a kill) when the parent process is gone: an orphan must not go on sending."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(ORPHAN_EXIT)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
