"""Peak memory of a whole send (ledger on SQLite, every message built in full, then discarded).

Each list size is filled in one process and sent in a fresh one, so the figure is the send's own peak
RSS, not the set-up's. Flat in list size means the 100,000 figure is close to the 10,000 one.

    python bench/bench_send_memory.py [SIZE ...]        default: 10000 100000
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-secret-0123456789abcdef"


def settings_for(folder: Path):  # type: ignore[no-untyped-def]
    from newsletter.config import Settings

    return Settings(
        database_url=f"sqlite:///{folder / 'bench.db'}",
        transport="discard",
        secret_key=SECRET,
        postal_address="PO Box 1",
        from_address="News <news@example.org>",
        batch_size=1000,
    )


def fill(folder: Path, size: int) -> None:
    from newsletter.database import open_database
    from subscribers import Consent, Status

    database = open_database(settings_for(folder), migrate=True)
    for start in range(0, size, 50_000):
        rows = [(f"reader{i}@example.org", f"Reader {i}") for i in range(start, min(size, start + 50_000))]
        database.store.add_many(rows, status=Status.confirmed, consent=Consent("bench"))
    database.close()


def send(folder: Path) -> None:
    from newsletter.database import open_database
    from newsletter.delivery.links import Links
    from newsletter.delivery.prepare import prepare_edition
    from newsletter.delivery.send_loop import Sender
    from newsletter.delivery.transports.discard import DiscardTransport
    from newsletter.edition.digest import load_digest
    from newsletter.edition.render import Renderer

    settings = settings_for(folder)
    database = open_database(settings)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    digest = load_digest(ROOT / "samples" / "2011-07-11-weekly-highlights.yaml")
    prepared = prepare_edition(digest, Renderer(settings.templates_dir), database.ledger, settings)
    transport = DiscardTransport()
    started = time.perf_counter()
    summary = Sender(
        settings=settings,
        store=database.store,
        ledger=database.ledger,
        transport=transport,
        links=Links(settings),
    ).send(prepared)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "accepted": summary.accepted,
                "peak_rss_mb": round(peak / 1024, 1),
                "before_send_mb": round(baseline / 1024, 1),
                "seconds": round(seconds, 1),
                "bytes_built": transport.bytes,
            }
        )
    )


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--send":
        send(Path(sys.argv[2]))
        return
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 100_000]
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            fill(Path(tmp), size)
            out = subprocess.run(
                [sys.executable, __file__, "--send", tmp], capture_output=True, text=True, check=True
            )
            result = json.loads(out.stdout)
            rate = result["accepted"] / result["seconds"] if result["seconds"] else 0
            print(
                f"{size:>9,} subscribers: peak RSS {result['peak_rss_mb']:6.1f} MB "
                f"(before the send {result['before_send_mb']} MB), {result['seconds']} s, "
                f"{rate:,.0f} messages/s with ledger writes"
            )


if __name__ == "__main__":
    main()
