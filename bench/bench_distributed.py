"""A distributed send through the local SendGrid stand-in: real ``newsletter worker`` processes on RabbitMQ.

For each database (PostgreSQL at 127.0.0.1:5432, SQLite) and each worker count, a fresh copy of a list of
SUBSCRIBERS confirmed readers (filled once by bulk insert: COPY on PostgreSQL, executemany on SQLite)
is sent by ``newsletter send DIGEST --distributed`` to N workers started with ``newsletter worker``; the
SendGrid v3 stand-in (tests/support/sendgrid_server.py) runs in its own process and checks every request.
The run ends when the ledger says the edition is ``sent``. Printed per run:

- recipients/s: subscribers / wall time from starting the send command to the ledger's ``sent``
  (planning, enqueueing, the workers' sends and their ledger writes); and over the ledger's own span
  (first delivery row written to last result), which leaves the command's start-up out.
- ledger cost per recipient. PostgreSQL: the server's CPU time (every backend serving the bench
  database, sampled from /proc while it runs), its transactions and rows written (pg_stat_database,
  after the workers exit so every backend flushed its counters), and the bytes the ledger tables grew
  (deliveries, send_batches, with indexes). SQLite runs inside the workers, so only the bytes (the
  database file and its WAL) are separate; its CPU is part of the workers'.
- peak RSS (VmHWM) of each worker (read from /proc before it is stopped) and of the send command
  (its rusage from wait4); goal ≤ 100 MB each. Workers' CPU per recipient, and the stand-in's.

    python bench/bench_distributed.py [SUBSCRIBERS] [--database postgres sqlite] [--workers 1 2]
                                      [--batch-size 2000]          default: 100000, both, 1 and 2
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_sendgrid import KEY, reader_rows, start_stand_in  # noqa: E402  (bench/ is on the path)
from sqlalchemy import Engine, insert, text  # noqa: E402

from newsletter.config import Settings  # noqa: E402
from newsletter.database import open_database  # noqa: E402
from subscribers.db import make_engine  # noqa: E402
from subscribers.models import Subscriber  # noqa: E402
from tests.support.workers import NEWSLETTER, Worker, start_workers, stop_workers, write_config  # noqa: E402

DIGEST = ROOT / "samples" / "2011-07-11-weekly-highlights.yaml"
EDITION = "2011-07-11-weekly-highlights"
BROKER = "amqp://guest:guest@127.0.0.1:5672//"
POSTGRES = os.environ.get("NEWSLETTER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TICK = os.sysconf("SC_CLK_TCK")
GOAL_RSS_MB = 100.0
LEDGER_TABLES = ("deliveries", "send_batches")


def base_values(database_url: str, batch_size: int) -> dict[str, object]:
    run = uuid.uuid4().hex[:10]
    return {
        "database_url": database_url,
        "secret_key": "bench-secret-0123456789abcdef",
        "from_address": "Burma Partnership <news@example.org>",
        "postal_address": "PO Box 1, Chiang Mai 50200, Thailand",
        "base_url": "https://news.example.org",
        "transport": "sendgrid",
        "sendgrid_api_key": KEY,
        "sendgrid_host": "http://127.0.0.1:9",
        "batch_size": batch_size,
        "broker_url": BROKER,
        "worker_queue": f"bench-{run}",
        "redis_prefix": f"bench:{run}:",
    }


# -- the list, filled once per database and copied for every run ------------------------------------


def fill(database_url: str, size: int, batch_size: int) -> None:
    """Migrate, then insert ``size`` confirmed subscribers (not the CSV importer: this measures the send)."""
    settings = Settings(**base_values(database_url, batch_size))  # type: ignore[arg-type]
    database = open_database(settings, migrate=True)
    now = dt.datetime.now(dt.UTC)
    step = 50_000
    if database.engine.dialect.name == "postgresql":
        raw = database.engine.raw_connection()
        try:
            cursor = raw.cursor()
            columns = "email, name, status, source, created_at, updated_at, confirmed_at"
            with cursor.copy(f"COPY subscribers ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                stamp = now.isoformat()
                for start in range(0, size, step):
                    buffer = io.StringIO()
                    for i in range(start, min(size, start + step)):
                        times = f"{stamp}\t{stamp}\t{stamp}"
                        buffer.write(f"reader{i}@example.org\tReader {i}\tconfirmed\tbench\t{times}\n")
                    copy.write(buffer.getvalue())
            raw.commit()
            cursor.execute("ANALYZE subscribers")
            raw.commit()
        finally:
            raw.close()
    else:
        with database.engine.begin() as connection:
            for start in range(0, size, step):
                connection.execute(insert(Subscriber), reader_rows(start, min(size, start + step), now))
    database.close()


@dataclasses.dataclass
class Store:
    """One database kind: the filled template, and a fresh copy of it per run."""

    kind: str
    folder: Path
    template: str = ""

    def admin(self) -> Engine:
        return make_engine(POSTGRES, isolation_level="AUTOCOMMIT")

    def prepare(self, size: int, batch_size: int) -> float:
        started = time.perf_counter()
        if self.kind == "postgres":
            self.template = f"bench_dist_tpl_{uuid.uuid4().hex[:8]}"
            engine = self.admin()
            with engine.connect() as connection:
                connection.execute(text(f"CREATE DATABASE {self.template}"))
            engine.dispose()
            fill(self.url_of(self.template), size, batch_size)
        else:
            self.template = str(self.folder / "template.db")
            fill(f"sqlite:///{self.template}", size, batch_size)
            engine = make_engine(f"sqlite:///{self.template}")
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
        return time.perf_counter() - started

    def url_of(self, name: str) -> str:
        return POSTGRES.rsplit("/", 1)[0] + "/" + name

    @contextmanager
    def copy(self) -> Iterator[str]:
        if self.kind == "postgres":
            name = f"bench_dist_{uuid.uuid4().hex[:8]}"
            engine = self.admin()
            with engine.connect() as connection:
                connection.execute(text(f"CREATE DATABASE {name} TEMPLATE {self.template}"))
            try:
                yield self.url_of(name)
            finally:
                with engine.connect() as connection:
                    connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                engine.dispose()
        else:
            path = self.folder / f"run-{uuid.uuid4().hex[:8]}.db"
            shutil.copyfile(self.template, path)
            try:
                yield f"sqlite:///{path}"
            finally:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)

    def drop(self) -> None:
        if self.kind == "postgres" and self.template:
            engine = self.admin()
            with engine.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {self.template} WITH (FORCE)"))
            engine.dispose()


# -- what a run costs ---------------------------------------------------------------------------------


def proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a live process, from /proc (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_hwm_mb(pid: int) -> float:
    """Peak RSS of a live process (0 once it is gone or a zombie)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class BackendCpu(threading.Thread):
    """The CPU time of every PostgreSQL backend serving one database, sampled every 0.1 s.

    Each backend's counter only grows, so the last sample of each is what it spent (less at most
    0.1 s of the work of a backend that exits between samples: the send command's, a few statements).
    """

    def __init__(self, engine: Engine, database: str) -> None:
        super().__init__(daemon=True)
        self._engine, self._database = engine, database
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        with self._engine.connect() as connection:
            while not self._halt.wait(0.1):
                pids = connection.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"),
                    {"d": self._database},
                ).scalars()
                for pid in pids:
                    cpu = proc_cpu(pid)
                    if cpu is not None:
                        self._first.setdefault(pid, cpu)
                        self._last[pid] = cpu

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return sum(self._last.values())  # a backend's whole life: each was started for this run


def pg_counters(engine: Engine, database: str) -> dict[str, float]:
    with engine.connect() as connection:
        counters = connection.execute(
            text(
                "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted, tup_returned "
                "FROM pg_stat_database WHERE datname = :d"
            ),
            {"d": database},
        ).one()
    return dict(counters._mapping)


def ledger_bytes(engine: Engine) -> int:
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            return sum(
                int(connection.execute(text(f"SELECT pg_total_relation_size('{t}')")).scalar_one())
                for t in LEDGER_TABLES
            )
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        page = connection.exec_driver_sql("PRAGMA page_size").scalar_one()
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
        return int(page) * int(pages)  # the whole file: the list did not change, so its growth is the ledger


@dataclasses.dataclass
class Result:
    kind: str
    workers: int
    subscribers: int
    accepted: int
    wall: float
    span: float
    command_seconds: float
    command_rss_mb: float
    worker_rss_mb: list[float]
    worker_cpu: float
    stand_in_cpu: float
    ledger_bytes: int
    server_cpu: float | None = None
    commits: float | None = None
    rows_written: float | None = None

    def lines(self) -> list[str]:
        n = self.accepted or 1
        rss = ", ".join(f"{m:.1f}" for m in self.worker_rss_mb)
        peak = max([*self.worker_rss_mb, self.command_rss_mb])
        out = [
            f"{self.kind}, {self.workers} worker{'s' if self.workers > 1 else ''}: "
            f"{self.subscribers:,} subscribers -> {self.accepted:,} accepted in {self.wall:.1f} s = "
            f"{self.subscribers / self.wall:,.0f} recipients/s (ledger span {self.span:.1f} s = "
            f"{self.accepted / self.span:,.0f}/s; send command {self.command_seconds:.1f} s)",
            f"  peak RSS: workers {rss} MB, send command {self.command_rss_mb:.1f} MB "
            f"(goal <= {GOAL_RSS_MB:.0f} MB each: {'met' if peak <= GOAL_RSS_MB else 'NOT met'})",
            f"  CPU per recipient: workers {self.worker_cpu / n * 1e6:.1f} µs, "
            f"stand-in {self.stand_in_cpu / n * 1e6:.1f} µs",
        ]
        cost = f"  ledger cost per recipient: {self.ledger_bytes / n:.0f} bytes of ledger tables"
        if self.server_cpu is not None:
            cost += (
                f", PostgreSQL CPU {self.server_cpu / n * 1e6:.1f} µs, {self.commits / n:.4f} transactions, "
                f"{self.rows_written / n:.2f} rows written (inserted + updated)"
            )
        else:
            cost += " (SQLite's CPU is inside the workers')"
        return [*out, cost]


def edition_status(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return connection.execute(text("SELECT status FROM editions WHERE key = :k"), {"k": EDITION}).scalar()


def one_run(store: Store, size: int, workers: int, batch_size: int, folder: Path) -> Result:
    server, host = start_stand_in()
    with store.copy() as url:
        values = {**base_values(url, batch_size), "sendgrid_host": host}
        run_folder = folder / f"{store.kind}-{workers}-{uuid.uuid4().hex[:6]}"
        run_folder.mkdir()
        config = write_config(run_folder / "newsletter.toml", values)
        engine = make_engine(url)
        admin = store.admin() if store.kind == "postgres" else None
        name = url.rsplit("/", 1)[1]
        before_bytes = ledger_bytes(engine)
        before = pg_counters(admin, name) if admin is not None else {}
        pool = start_workers(config, workers, run_folder)
        sampler = BackendCpu(admin, name) if admin is not None else None
        try:
            worker_cpu0 = [proc_cpu(w.pid) or 0.0 for w in pool]
            if sampler is not None:
                sampler.start()
            started = time.perf_counter()
            env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
            command = subprocess.Popen(
                [
                    *NEWSLETTER,
                    "--config",
                    str(config),
                    "send",
                    str(DIGEST),
                    "--distributed",
                    "--yes",
                    "--json",
                ],
                cwd=run_folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            command_hwm = 0.0
            while command.poll() is None:  # its own peak, not SpamAssassin's (preflight runs it)
                command_hwm = max(command_hwm, proc_hwm_mb(command.pid))
                time.sleep(0.01)
            command_seconds = time.perf_counter() - started
            assert command.returncode == 0, command.stderr.read() if command.stderr else ""
            while edition_status(engine) != "sent":
                check_alive(pool)
                time.sleep(0.1)
            wall = time.perf_counter() - started
            server_cpu = sampler.stop() if sampler is not None else None
            worker_cpu = sum((proc_cpu(w.pid) or 0.0) - c for w, c in zip(pool, worker_cpu0, strict=True))
            worker_rss = [proc_hwm_mb(w.pid) for w in pool]
        finally:
            stop_workers(pool)
        out, _ = server.communicate("", timeout=60)
        stand_in = json.loads(out.strip().splitlines()[-1])
        with engine.connect() as connection:
            accepted, first, last = connection.execute(
                text(
                    "SELECT count(*), min(updated_at), max(updated_at) FROM deliveries "
                    "WHERE status = 'accepted'"
                )
            ).one()
        span = (as_time(last) - as_time(first)).total_seconds()
        result = Result(
            kind=store.kind,
            workers=workers,
            subscribers=size,
            accepted=int(accepted),
            wall=wall,
            span=span,
            command_seconds=command_seconds,
            command_rss_mb=command_hwm,
            worker_rss_mb=worker_rss,
            worker_cpu=worker_cpu,
            stand_in_cpu=float(stand_in["cpu"]),
            ledger_bytes=ledger_bytes(engine) - before_bytes,
            server_cpu=server_cpu,
        )
        if admin is not None:
            after = pg_counters(admin, name)
            result.commits = after["xact_commit"] - before["xact_commit"]
            result.rows_written = (after["tup_inserted"] - before["tup_inserted"]) + (
                after["tup_updated"] - before["tup_updated"]
            )
            admin.dispose()
        engine.dispose()
        assert result.accepted == size, f"{result.accepted} accepted of {size}"
        return result


def as_time(value: object) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


def check_alive(pool: list[Worker]) -> None:
    for worker in pool:
        assert worker.process.poll() is None, worker.text()[-3000:]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("subscribers", type=int, nargs="?", default=100_000)
    parser.add_argument(
        "--database", nargs="+", choices=("postgres", "sqlite"), default=["postgres", "sqlite"]
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=2000, help="subscribers per batch (batch_size)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.database:
            store = Store(kind, Path(tmp))
            try:
                filled = store.prepare(args.subscribers, args.batch_size)
                print(f"{kind}: {args.subscribers:,} subscribers filled in {filled:.0f} s", flush=True)
                for count in args.workers:
                    for line in one_run(store, args.subscribers, count, args.batch_size, Path(tmp)).lines():
                        print(line, flush=True)
            finally:
                store.drop()


if __name__ == "__main__":
    main()
