"""SendGrid throughput: recipients per second through the real send loop to the local v3 stand-in.

Everything a real send does runs: keyset reads of the list, the ledger written before (``sending``) and
after (``accepted`` + X-Message-Id) on SQLite, per-recipient tokens and VERP, the JSON body of up to 1,000
personalizations, the official client's HTTP request. The stand-in (tests/sendgrid_server.py, its own
process) validates every request like the API does.

    python bench/bench_sendgrid.py [SUBSCRIBERS] [--workers N]      default: 100000, 1 process
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from newsletter.config import Settings  # noqa: E402
from newsletter.database import open_database  # noqa: E402
from newsletter.delivery.links import Links  # noqa: E402
from newsletter.delivery.prepare import prepare_edition  # noqa: E402
from newsletter.dispatch.parallel import send_edition  # noqa: E402
from newsletter.edition.digest import load_digest  # noqa: E402
from newsletter.edition.render import Renderer  # noqa: E402
from subscribers.models import Status, Subscriber  # noqa: E402

KEY = "SG.bench-key"


def settings_for(folder: Path, host: str = "http://127.0.0.1:9") -> Settings:
    return Settings(
        database_url=f"sqlite:///{folder / 'bench.db'}",
        transport="sendgrid",
        sendgrid_api_key=KEY,
        sendgrid_host=host,
        secret_key="bench-secret-0123456789abcdef",
        postal_address="PO Box 1",
        from_address="News <news@example.org>",
        batch_size=1000,
    )


def reader_rows(start: int, stop: int, now: dt.datetime) -> list[dict[str, object]]:
    return [
        {
            "email": f"reader{i}@example.org",
            "name": f"Reader {i}",
            "status": Status.confirmed,
            "source": "bench",
            "created_at": now,
            "updated_at": now,
            "confirmed_at": now,
        }
        for i in range(start, stop)
    ]


def fill(settings: Settings, size: int) -> None:
    """Confirmed subscribers by bulk insert (the store's add_many writes consent events too: slow for 1M)."""
    database = open_database(settings, migrate=True)
    now = dt.datetime.now(dt.UTC)
    with database.engine.begin() as connection:
        for start in range(0, size, 50_000):
            connection.execute(insert(Subscriber), reader_rows(start, min(size, start + 50_000), now))
    database.close()


def start_stand_in() -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.sendgrid_server", "--key", KEY],
        cwd=ROOT,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None
    return server, f"http://127.0.0.1:{int(server.stdout.readline())}"


def send(settings: Settings) -> dict[str, float]:
    """The send as ``newsletter send`` runs it (``send_edition``), in ``send_workers`` processes."""
    database = open_database(settings)
    digest = load_digest(ROOT / "samples" / "2011-07-11-weekly-highlights.yaml")
    prepared = prepare_edition(digest, Renderer(settings.templates_dir), database.ledger, settings)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started, cpu = time.perf_counter(), time.process_time()
    summary = send_edition(settings, database, Links(settings), prepared)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu += (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)  # the workers
    counts = database.ledger.counts(prepared.edition.id)
    database.close()
    assert counts["accepted"] == summary.accepted and summary.status == "sent", (counts, summary)
    return {"accepted": summary.accepted, "seconds": seconds, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("subscribers", type=int, nargs="?", default=100_000)
    parser.add_argument("--workers", type=int, default=1, help="send_workers: processes sending")
    args = parser.parse_args()
    size = args.subscribers
    with tempfile.TemporaryDirectory() as tmp:
        fill(settings_for(Path(tmp)), size)
        server, url = start_stand_in()
        try:
            result = send(settings_for(Path(tmp), url).replace(send_workers=args.workers))
        finally:
            out, _ = server.communicate("", timeout=60)
    stand_in = json.loads(out.strip().splitlines()[-1])
    rate = result["accepted"] / result["seconds"]
    requests = sum(stand_in["statuses"].values())
    print(
        f"{size:,} subscribers -> {result['accepted']:,.0f} accepted in {result['seconds']:.1f} s "
        f"({requests} requests, {args.workers} sending process{'es' if args.workers > 1 else ''}): "
        f"{rate:,.0f} recipients/s including ledger writes on SQLite"
    )
    print(
        f"sending CPU: {result['cpu'] / result['accepted'] * 1e6:.1f} µs per recipient "
        f"(one core's worth would send {result['accepted'] / result['cpu']:,.0f}/s)"
    )
    print(
        f"stand-in saw {stand_in['personalizations']:,} personalizations, statuses {stand_in['statuses']}; "
        f"checking them took {stand_in['cpu'] / result['accepted'] * 1e6:.1f} µs of CPU per recipient "
        "(on this machine's two cores, beside the sending)"
    )


if __name__ == "__main__":
    main()
