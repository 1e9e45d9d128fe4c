"""Import N subscribers from CSV with full validation, on SQLite and on PostgreSQL: seconds and peak RSS.

    python bench/bench_import.py [ROWS ...]    (default 100,000 and 1,000,000; goal: 1,000,000 in 60 s,
                                                peak RSS flat, i.e. the same for every size)

Each run is the real command (`newsletter subscribers import FILE --confirmed`) in a fresh process on a
fresh database (a new SQLite file; a new PostgreSQL schema, dropped after), so the figure includes
start-up, reading, the full address check of every row, deduplication, the inserts of the subscribers
and their consent events, and the commit. Peak RSS and CPU time are the import process's own (wait4);
PostgreSQL's own work runs in the server, on the other core, and is in the wall time only. The machine
is shared: run it twice and take the range.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from subscribers.db import make_engine  # noqa: E402
from tests.support.services import POSTGRES_URL  # noqa: E402

GOAL_SECONDS = 60
NEWSLETTER = [sys.executable, "-c", "from newsletter.cli import main; main()"]


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("email,name\n")
        for i in range(rows):
            out.write(f"reader{i}@example{i % 97}.org,Reader {i}\n")


@dataclasses.dataclass(frozen=True)
class Run:
    seconds: float
    cpu: float
    rss_mb: float
    said: str


def run(folder: Path, database_url: str, *args: str) -> Run:
    config = folder / "newsletter.toml"
    config.write_text(f"database_url = {json.dumps(database_url)}\nsecret_key = {json.dumps('x' * 32)}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(
            [*NEWSLETTER, "--config", str(config), *args],
            stdout=out,
            stderr=err,
            text=True,
            env=env,
            cwd=folder,
        )
        _pid, status, usage = os.wait4(child.pid, 0)  # the child's own rusage, not every child's maximum
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        said, complaint = out.read(), err.read()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode not in (0, 3):
        raise SystemExit(complaint)
    return Run(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, said.strip())


def line(database: str, rows: int, result: Run) -> str:
    speed = f"{rows / result.seconds:>8,.0f} rows/s"
    return (
        f"{database:<10} {rows:>9,} rows: {result.seconds:6.1f} s  {speed}  "
        f"CPU {result.cpu:5.1f} s  peak RSS {result.rss_mb:.0f} MB"
    )


def bench(rows: int) -> list[tuple[str, Run]]:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        csv_file = folder / "list.csv"
        write_csv(csv_file, rows)
        results = []
        sqlite_url = f"sqlite:///{folder / 'newsletter.db'}"
        run(folder, sqlite_url, "init")
        results.append(
            ("SQLite", run(folder, sqlite_url, "subscribers", "import", str(csv_file), "--confirmed"))
        )
        print(line("SQLite", rows, results[-1][1]))
        print(f"           {results[-1][1].said}")
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = make_engine(POSTGRES_URL)
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        try:
            pg_url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
            run(folder, pg_url, "init")
            imported = run(folder, pg_url, "subscribers", "import", str(csv_file), "--confirmed")
            results.append(("PostgreSQL", imported))
            print(line("PostgreSQL", rows, imported))
            print(f"           {imported.said}")
        finally:
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
        return results


def address_check(count: int = 20_000) -> None:
    """CPU per address: the importer's AddressNormaliser against email-validator on every row, same run."""
    from subscribers.validation import AddressNormaliser, normalise_email

    addresses = [f"reader{i}@example{i % 97}.org" for i in range(count)]
    fast = AddressNormaliser()
    started = time.process_time()
    quick = [fast(a) for a in addresses]
    fast_cpu = time.process_time() - started
    started = time.process_time()
    full = [normalise_email(a) for a in addresses]
    full_cpu = time.process_time() - started
    assert quick == full
    print(
        f"address check, CPU per address: {fast_cpu / count * 1e6:.1f} µs (AddressNormaliser) vs "
        f"{full_cpu / count * 1e6:.1f} µs (email-validator on every row), same answers"
    )


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [100_000, 1_000_000]
    address_check()
    peaks: dict[str, list[float]] = {}
    for rows in sizes:
        for database, result in bench(rows):
            peaks.setdefault(database, []).append(result.rss_mb)
            if rows == 1_000_000:
                verdict = "met" if result.seconds <= GOAL_SECONDS else "NOT met"
                print(f"           goal 1,000,000 rows in <= {GOAL_SECONDS} s on {database}: {verdict}")
    if len(sizes) > 1:
        for database, values in peaks.items():
            shown = " / ".join(f"{v:.0f} MB" for v in values)
            sized = " / ".join(f"{rows:,}" for rows in sizes)
            spread = max(values) - min(values)
            print(f"peak RSS {database}, {sized} rows: {shown} (flat: they differ by {spread:.1f} MB)")


if __name__ == "__main__":
    main()
