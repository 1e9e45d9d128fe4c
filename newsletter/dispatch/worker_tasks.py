"""The tasks a ``newsletter worker`` runs, and the per-process state they share.

Tasks are registered on an app built from Settings (``register``), never on a module-level app. Each
worker process keeps, lazily, one database, one Sender (so SMTP connections and SendGrid's client stay
open from batch to batch) and the stored editions it has sent, and rebuilds them after a fork.

``send_batch`` returns normally in every case the ledger decides (sent, already done, paused,
cancelled): the message is then acknowledged. A batch held by another live worker, or with deferrals
not yet due, comes back through ``retry`` with a countdown: the wait is the broker's, not a sleeping
process's. A crash (an exception the ledger did not expect) is acknowledged too, after the batch's claim
was released by its lease running out: ``rescue`` brings such a batch back.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, Task

from newsletter.config import Settings
from newsletter.database import Database, open_database
from newsletter.delivery.leases import this_process
from newsletter.delivery.links import Links
from newsletter.delivery.prepare import PreparedEdition, stored_edition
from newsletter.delivery.send_loop import Sender
from newsletter.dispatch.celery_app import RUN_DUE, SEND_BATCH, is_redis
from newsletter.dispatch.distributed import rescue, send_batch
from newsletter.dispatch.parallel import build_sender
from newsletter.shared_limits import SharedRate, SharedTokenBucket, connect_redis

log = logging.getLogger("newsletter.worker")


class WorkerState:
    """What one worker process holds between tasks; opened on first use in the process that uses it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pid = 0
        self._database: Database | None = None
        self._sender: Sender | None = None
        self._editions: dict[int, PreparedEdition | None] = {}

    def _fresh(self) -> None:
        if self._pid != os.getpid():  # first use, or a forked child: nothing inherited is ours
            self._pid, self._database, self._sender, self._editions = os.getpid(), None, None, {}

    @property
    def database(self) -> Database:
        self._fresh()
        if self._database is None:
            self._database = open_database(self.settings)
        return self._database

    @property
    def sender(self) -> Sender:
        self._fresh()
        if self._sender is None:
            self._sender = build_sender(
                self.settings, self.database, Links(self.settings), rate=self._shared_rate()
            )
        return self._sender

    def _shared_rate(self) -> SharedRate:
        """One send rate for all workers on this queue together (Redis when configured, else the database)."""
        settings = self.settings
        name = f"send-rate:{settings.worker_queue}"
        if settings.redis_url:
            client = connect_redis(settings.redis_url)
            bucket = SharedTokenBucket(f"{settings.redis_prefix}{name}", settings.send_rate, client=client)
        else:
            bucket = SharedTokenBucket(name, settings.send_rate, sessions=self.database.sessions)
        return SharedRate(bucket)

    def prepared(self, edition_id: int) -> PreparedEdition | None:
        self._fresh()
        if edition_id not in self._editions:
            edition = self.database.ledger.get_edition(edition_id)
            self._editions[edition_id] = None if edition is None else stored_edition(edition, self.settings)
        return self._editions[edition_id]

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
        if self._database is not None:
            self._database.close()


def register(app: Celery, settings: Settings) -> WorkerState:
    """Define the worker's tasks on ``app``; they share the returned state."""
    state = WorkerState(settings)

    @app.task(  # type: ignore[untyped-decorator]
        name=SEND_BATCH, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None
    )
    def send_batch_task(self: Task, edition_id: int, batch_id: int) -> dict[str, Any]:
        outcome = send_batch(
            settings, state.database, state.sender, state.prepared, this_process(), edition_id, batch_id
        )
        log.info(
            "batch %s of edition %s: %s (%s accepted)", batch_id, edition_id, outcome.state, outcome.accepted
        )
        if outcome.retry_in is not None:
            raise self.retry(countdown=outcome.retry_in)
        return {"state": outcome.state, "accepted": outcome.accepted}

    @app.task(name=RUN_DUE)  # type: ignore[untyped-decorator]
    def run_due_task() -> dict[str, int]:
        return rescue(settings, state.database, app)

    return state


def run_worker(settings: Settings, *, concurrency: int, beat: bool, loglevel: str) -> int:
    """Run a Celery worker in this process until it is stopped (SIGTERM: finish the batch, then exit);
    returns its exit status.

    Started as ``app.Worker`` (what ``celery worker`` itself runs), not through ``worker_main``: the
    command line of ``celery`` imports its interactive shell (prompt_toolkit, pygments), 8.6 MB of a
    worker whose goal is 100 MB.
    """
    import socket

    from newsletter.dispatch.celery_app import make_celery

    app = make_celery(settings)
    state = register(app, settings)
    worker = app.Worker(
        hostname=f"newsletter-{os.getpid()}@{socket.gethostname()}",
        queues=[settings.worker_queue],
        loglevel=loglevel.upper(),
        pool_cls="solo" if concurrency == 1 else "prefork",
        concurrency=concurrency,
        beat=beat,
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=is_redis(settings.broker_url),
    )
    try:
        worker.start()
    finally:
        state.close()
    return int(worker.exitcode or 0)
