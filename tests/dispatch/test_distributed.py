"""A send spread over real Celery workers (RabbitMQ or Redis broker) claiming batches from PostgreSQL.

Every worker is a ``newsletter worker`` process; the sink is a real SMTP server counting Message-IDs.
The checks are the ones a publisher cares about: everyone got the edition, the ledger holds one
accepted delivery per subscriber, a killed worker costs at most its batch in flight as duplicates, a
stopped worker finishes its batch first, and the send rate holds over all workers together.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from newsletter.config import Settings
from newsletter.database import Database, open_database
from newsletter.delivery.batches import BATCHES, BatchStatus
from newsletter.delivery.leases import LEASES
from newsletter.delivery.ledger_tables import Delivery, DeliveryStatus
from newsletter.edition.stored import Edition, EditionStatus
from subscribers.models import Status
from subscribers.store import Consent
from tests.conftest import SAMPLE_DIGEST, TEST_SECRET
from tests.support.services import port_open, unavailable
from tests.support.smtp_server import Sink
from tests.support.workers import Worker, run_command, start_workers, stop_workers, unique_names, write_config

BROKERS = {
    "rabbitmq": ("amqp://guest:guest@127.0.0.1:5672//", 5672),
    "redis": ("redis://127.0.0.1:6379/0", 6379),
}
EDITION = "2011-07-11-weekly-highlights"


@pytest.fixture(params=list(BROKERS))
def broker(request: pytest.FixtureRequest) -> str:
    url, port = BROKERS[request.param]
    if not port_open("127.0.0.1", port):
        unavailable(f"{request.param} is not reachable on 127.0.0.1:{port}")
    return url


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as server:
        yield server


def _project(
    tmp_path: Path, database_url: str, broker: str, sink: Sink, **extra: object
) -> tuple[Path, Settings]:
    values: dict[str, object] = {
        "database_url": database_url,
        "secret_key": TEST_SECRET,
        "from_address": "Burma Partnership <news@example.org>",
        "postal_address": "PO Box 1, Chiang Mai 50200, Thailand",
        "base_url": "https://news.example.org",
        "transport": "smtp",
        "smtp_url": sink.url,
        "smtp_concurrency": 2,
        "broker_url": broker,
        "broker_visibility_timeout": 8,
        "lease_seconds": 3,
        "batch_size": 100,
        **unique_names(),
        **extra,
    }
    config = write_config(tmp_path / "newsletter.toml", values)
    return config, Settings(**values)  # type: ignore[arg-type]


def _subscribe(database: Database, count: int) -> None:
    rows = [(f"reader{i}@example.org", f"Reader {i}") for i in range(count)]
    database.store.add_many(rows, status=Status.confirmed, consent=Consent(source="test"))


def _edition_status(database: Database) -> EditionStatus | None:
    edition = database.ledger.find_edition(EDITION)
    return None if edition is None else database.ledger.edition_status(edition.id)


def _wait_for(what: str, condition: Callable[[], bool], workers: list[Worker], timeout: float = 240) -> None:
    """Poll, failing at once (with the log) when a worker reports an unexpected error."""
    deadline = time.monotonic() + timeout
    while not condition():
        for worker in workers:
            assert "raised unexpected" not in worker.text(), worker.text()
        assert time.monotonic() < deadline, f"timed out waiting until {what}: " + workers[-1].text()[-3000:]
        time.sleep(0.05)


def _holding(database: Database, worker: Worker) -> bool:
    """The worker holds a batch and has begun sending it (some of its rows are in flight or done)."""
    with database.sessions() as session:
        claimed = session.execute(
            select(BATCHES.c.first_id, BATCHES.c.last_id).where(
                BATCHES.c.status == BatchStatus.claimed, BATCHES.c.holder.endswith(f" pid {worker.pid}")
            )
        ).first()
        if claimed is None:
            return False
        started = session.scalar(
            select(Delivery.id)
            .where(Delivery.subscriber_id.between(claimed.first_id, claimed.last_id))
            .limit(1)
        )
        return started is not None


def _start_send(config: Path, tmp_path: Path) -> None:
    result = run_command(config, tmp_path, "send", str(SAMPLE_DIGEST), "--distributed", "--yes", "--json")
    assert result.returncode == 0, result.stderr
    assert '"distributed": true' in result.stdout


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_three_workers_one_killed_one_stopped_still_reach_everyone_once(
    tmp_path: Path, database_url: str, broker: str, sink: Sink
) -> None:
    config, settings = _project(tmp_path, database_url, broker, sink)
    assert run_command(config, tmp_path, "init").returncode == 0
    database = open_database(settings)
    _subscribe(database, 5000)
    workers = start_workers(config, 3, tmp_path)
    killed, stopped, survivor = workers
    try:
        _start_send(config, tmp_path)
        _wait_for("the first worker is mid-batch", lambda: _holding(database, killed), workers)
        killed.signal(signal.SIGKILL)
        killed.process.wait(30)
        # Dead, it can change nothing more: either it died holding a half-sent batch (the usual case, which
        # another worker must take over), or it had just finished one when the signal landed.
        died_mid_batch = _holding(database, killed)
        _wait_for("the second worker is mid-batch", lambda: _holding(database, stopped), workers)
        stopped.signal(signal.SIGTERM)
        assert stopped.process.wait(60) == 0, stopped.text()  # a warm shutdown: the batch in hand first
        _wait_for("the edition is sent", lambda: _edition_status(database) is EditionStatus.sent, workers)
    finally:
        stop_workers(workers)
    assert killed.process.returncode == -signal.SIGKILL
    with database.sessions() as session:
        rows = session.execute(select(Delivery.message_id, Delivery.status)).all()
        batches = session.execute(select(BATCHES.c.status, BATCHES.c.holder, BATCHES.c.claims)).all()
        leases = session.execute(select(LEASES)).all()
    assert len(rows) == 5000 and {status for _, status in rows} == {DeliveryStatus.accepted}
    message_ids = {mid for mid, _ in rows}
    assert set(sink.received) == message_ids  # every subscriber received the edition
    duplicates = sum(count - 1 for count in sink.received.values())
    assert duplicates <= settings.batch_size  # at most the killed worker's batch in flight
    assert all(status == BatchStatus.done for status, _, _ in batches)
    if died_mid_batch:
        assert any(claims > 1 for _, _, claims in batches)  # the killed worker's batch was taken over
    assert any(holder.endswith(f" pid {survivor.pid}") for _, holder, _ in batches)
    assert leases == []  # the finished send holds no lease
    database.close()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_send_rate_holds_over_all_workers_together(tmp_path: Path, database_url: str, sink: Sink) -> None:
    broker = BROKERS["rabbitmq"][0]
    if not port_open("127.0.0.1", 5672):
        unavailable("RabbitMQ is not reachable on 127.0.0.1:5672")
    rate = 40  # well below what three workers send on this shared machine, so the shared bucket binds
    config, settings = _project(tmp_path, database_url, broker, sink, send_rate=rate, batch_size=20)
    assert run_command(config, tmp_path, "init").returncode == 0
    database = open_database(settings)
    _subscribe(database, 600)  # 15 s at the rate
    workers = start_workers(config, 3, tmp_path)
    try:
        _start_send(config, tmp_path)
        _wait_for("the edition is sent", lambda: _edition_status(database) is EditionStatus.sent, workers)
    finally:
        stop_workers(workers)
    with database.sessions() as session:
        stamps = sorted(session.scalars(select(Delivery.updated_at)))
        holders = set(session.scalars(select(BATCHES.c.holder)))
    assert len(stamps) == 600 and len(holders) == 3  # every worker sent a share
    # The rate over the ledger's own timestamps, leaving out the first and last second (start-up burst,
    # the last results' flush): three workers with a bucket each would show three times the rate.
    first, last = stamps[0].timestamp() + 1, stamps[-1].timestamp() - 1
    inside = sum(1 for s in stamps if first <= s.timestamp() <= last)
    measured = inside / (last - first)
    assert rate * 0.9 <= measured <= rate * 1.1, measured
    database.close()


# -- pause, resume and cancel reach every worker within one batch -----------------------------------

STEERED = 400
STEERED_BATCH = 20


def _accepted(database: Database) -> int:
    with database.sessions() as session:
        return len(
            session.scalars(select(Delivery.id).where(Delivery.status == DeliveryStatus.accepted)).all()
        )


def _steer(database: Database, to: EditionStatus) -> int:
    """Pause or cancel as `newsletter pause` / `cancel` do (one status change in the ledger), and count
    the accepted deliveries in the same transaction: what was sent before the change became visible.
    Writers of results wait for the commit (a share lock), so none lands between the count and the change."""
    with database.sessions.begin() as session:
        session.execute(text("LOCK TABLE deliveries IN SHARE MODE"))
        changed = session.execute(
            update(Edition)
            .where(Edition.key == EDITION, Edition.status == EditionStatus.sending)
            .values(status=to)
        )
        assert changed.rowcount == 1  # type: ignore[attr-defined]
        return len(
            session.scalars(select(Delivery.id).where(Delivery.status == DeliveryStatus.accepted)).all()
        )


def _batches_handled(workers: list[Worker]) -> set[str]:
    """Batch ids whose message a worker has taken and finished (sent, paused, cancelled …), from the logs."""
    found = set()
    for worker in workers:
        found |= set(re.findall(r"batch (\d+) of edition \d+: \w+", worker.text()))
    return found


def _every_message_handled(database: Database, workers: list[Worker]) -> Callable[[], bool]:
    """Each batch has one message on the broker: once every batch id is in a log and none is claimed, no
    worker holds anything more of this send."""

    def check() -> bool:
        with database.sessions() as session:
            ids = {str(i) for i in session.scalars(select(BATCHES.c.id))}
            claimed = session.scalar(
                select(BATCHES.c.id).where(BATCHES.c.status == BatchStatus.claimed).limit(1)
            )
        return claimed is None and ids <= _batches_handled(workers)

    return check


def _steered_send(tmp_path: Path, database_url: str, sink: Sink) -> tuple[Path, Database, list[Worker]]:
    """Two workers sending 400 subscribers in batches of 20, slowed by a shared rate so there is time to
    steer (the rate paces the send; nothing below asserts on time)."""
    broker = BROKERS["rabbitmq"][0]
    if not port_open("127.0.0.1", 5672):
        unavailable("RabbitMQ is not reachable on 127.0.0.1:5672")
    config, settings = _project(
        tmp_path, database_url, broker, sink, send_rate=80, batch_size=STEERED_BATCH, lease_seconds=5
    )
    assert run_command(config, tmp_path, "init").returncode == 0
    database = open_database(settings)
    _subscribe(database, STEERED)
    workers = start_workers(config, 2, tmp_path)
    _start_send(config, tmp_path)
    _wait_for("two batches are sent", lambda: _accepted(database) >= 2 * STEERED_BATCH, workers)
    return config, database, workers


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_pause_stops_every_worker_within_one_batch_and_a_resume_finishes_the_send(
    tmp_path: Path, database_url: str, sink: Sink
) -> None:
    config, database, workers = _steered_send(tmp_path, database_url, sink)
    try:
        before = _steer(database, EditionStatus.paused)
        _wait_for("every worker has let go", _every_message_handled(database, workers), workers)
        paused = _accepted(database)
        assert _edition_status(database) is EditionStatus.paused
        assert paused - before <= 2 * STEERED_BATCH  # at most the batch each of the two workers held
        assert paused < STEERED  # it did stop
        with database.sessions() as session:
            in_flight = session.scalars(
                select(Delivery.id).where(Delivery.status == DeliveryStatus.sending)
            ).all()
        assert in_flight == []  # what was handed over is recorded; nothing is left half-sent
        assert len(sink.received) == paused  # the receiver got exactly what the ledger says

        result = run_command(
            config, tmp_path, "send", str(SAMPLE_DIGEST), "--distributed", "--resume", "--yes"
        )
        assert result.returncode == 0, result.stderr
        _wait_for("the edition is sent", lambda: _edition_status(database) is EditionStatus.sent, workers)
    finally:
        stop_workers(workers)
    assert _accepted(database) == STEERED
    assert len(sink.received) == STEERED and set(sink.received.values()) == {1}  # everyone once
    database.close()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_cancel_stops_every_worker_within_one_batch_and_leaves_everyone_else_unsent(
    tmp_path: Path, database_url: str, sink: Sink
) -> None:
    config, database, workers = _steered_send(tmp_path, database_url, sink)
    try:
        before = _steer(database, EditionStatus.cancelled)
        _wait_for("every worker has let go", _every_message_handled(database, workers), workers)
        refused = run_command(
            config, tmp_path, "send", str(SAMPLE_DIGEST), "--distributed", "--resume", "--yes"
        )
    finally:
        stop_workers(workers)
    cancelled = _accepted(database)
    assert cancelled - before <= 2 * STEERED_BATCH and cancelled < STEERED
    assert _edition_status(database) is EditionStatus.cancelled
    assert refused.returncode != 0 and "cancelled" in refused.stderr  # and it stays so
    with database.sessions() as session:
        rows = session.execute(select(Delivery.status, Delivery.message_id)).all()
        open_batches = session.scalars(
            select(BATCHES.c.id).where(BATCHES.c.status == BatchStatus.claimed)
        ).all()
    accepted_ids = {mid for status, mid in rows if status == DeliveryStatus.accepted}
    # Everyone else is unsent, and the ledger says so: no row, or one put back untried; none in flight.
    assert {status for status, _ in rows} <= {DeliveryStatus.accepted, DeliveryStatus.deferred}
    assert open_batches == []
    assert set(sink.received) == accepted_ids and len(sink.received) == cancelled
    stats = run_command(config, tmp_path, "stats", EDITION, "--json")
    assert json.loads(stats.stdout)["status"] == "cancelled"
    database.close()
