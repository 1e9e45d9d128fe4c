"""Import N subscribers from CSV with full validation, on SQLite and on PostgreSQL: seconds and peak RSS.

    python bench/bench_import.py [ROWS]        (default 100,000; the issue's goal is 1,000,000 in 60 s)

Each run is the real command (`newsletter subscribers import FILE --confirmed`) in a fresh process on a
fresh database (a new SQLite file; a new PostgreSQL schema, dropped after), so the figure includes
start-up, reading, email-validator on every row, deduplication and the inserts. Peak RSS is the child
process's own (getrusage). The machine is shared: run it twice and take the range.
"""

from __future__ import annotations

import json
import os
import resource
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

NEWSLETTER = [sys.executable, "-c", "from newsletter.cli import main; main()"]


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("email,name\n")
        for i in range(rows):
            out.write(f"reader{i}@example{i % 97}.org,Reader {i}\n")


def run(folder: Path, database_url: str, *args: str) -> tuple[float, float, str]:
    config = folder / "newsletter.toml"
    config.write_text(f"database_url = {json.dumps(database_url)}\nsecret_key = {json.dumps('x' * 32)}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run(
        [*NEWSLETTER, "--config", str(config), *args], capture_output=True, text=True, env=env, cwd=folder
    )
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 3):
        raise SystemExit(result.stderr)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / 1024, result.stdout.strip()


def line(database: str, rows: int, seconds: float, rss: float) -> str:
    speed = f"{rows / seconds:>8,.0f} rows/s"
    return f"{database:<10} {rows:>9,} rows: {seconds:6.1f} s  {speed}  peak RSS {rss:.0f} MB"


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        csv_file = folder / "list.csv"
        write_csv(csv_file, rows)
        sqlite_url = f"sqlite:///{folder / 'newsletter.db'}"
        run(folder, sqlite_url, "init")
        seconds, rss, said = run(folder, sqlite_url, "subscribers", "import", str(csv_file), "--confirmed")
        print(line("SQLite", rows, seconds, rss))
        print(f"           {said}")
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = make_engine(POSTGRES_URL)
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        try:
            pg_url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
            run(folder, pg_url, "init")
            seconds, rss, said = run(folder, pg_url, "subscribers", "import", str(csv_file), "--confirmed")
            print(line("PostgreSQL", rows, seconds, rss))
            print(f"           {said}")
        finally:
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


if __name__ == "__main__":
    main()
