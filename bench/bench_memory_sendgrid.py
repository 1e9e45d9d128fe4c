"""Peak memory of a send to 1,000,000 subscribers through the SendGrid stand-in, and at 100,000.

Each list is filled in one process (bulk insert) and sent in a fresh one, so the figure is the send's
own peak RSS (VmHWM), not the set-up's; the stand-in runs in a third process and is not counted.
Flat in list size means the 1,000,000 figure is close to the 100,000 one: the send loop holds one keyset
batch, at most ``sendgrid_concurrency`` request bodies, and one group of unwritten results.

    python bench/bench_memory_sendgrid.py [SIZE ...]        default: 100000 1000000
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
sys.path.insert(0, str(ROOT / "bench"))


def send(folder: Path, host: str) -> None:
    from bench_sendgrid import send as measured_send
    from bench_sendgrid import settings_for

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = measured_send(settings_for(folder, host))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {**result, "peak_rss_mb": round(peak / 1024, 1), "before_send_mb": round(baseline / 1024, 1)}
        )
    )


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--send":
        send(Path(sys.argv[2]), sys.argv[3])
        return
    if len(sys.argv) == 4 and sys.argv[1] == "--fill":
        from bench_sendgrid import fill, settings_for

        fill(settings_for(Path(sys.argv[2])), int(sys.argv[3]))
        return
    from bench_sendgrid import start_stand_in

    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            # in its own process too: this one stays small, so nothing it touched can count for the send
            subprocess.run([sys.executable, __file__, "--fill", tmp, str(size)], check=True)
            filled = time.perf_counter() - started
            server, url = start_stand_in()
            try:
                out = subprocess.run(
                    [sys.executable, __file__, "--send", tmp, url], capture_output=True, text=True, check=True
                )
            finally:
                server.communicate("", timeout=60)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{size:>9,} subscribers: peak RSS {result['peak_rss_mb']:6.1f} MB "
                f"(imports and database open: {result['before_send_mb']} MB); "
                f"{result['accepted']:,} accepted "
                f"in {result['seconds']:.1f} s = {result['accepted'] / result['seconds']:,.0f}/s "
                f"(list filled in {filled:.0f} s)"
            )


if __name__ == "__main__":
    main()
