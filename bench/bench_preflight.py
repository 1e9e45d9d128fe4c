"""How long preflight takes on the seed edition: the rules alone, and SpamAssassin (a separate program).

The goal: under 2 s in all, the rules (render for a sample reader, parse the HTML, every check) under
50 ms. SpamAssassin's share is mostly its own start-up (reading and compiling ~1,000 rules), paid on
every run; the rules are timed after one warm-up run, as a web desk that keeps its renderer would pay.
CPU times are printed beside wall times: on a shared machine they are the steadier figure.

    python bench/bench_preflight.py [DIGEST] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.config import Settings  # noqa: E402
from newsletter.edition.digest import load_located_digest  # noqa: E402
from newsletter.edition.render import Renderer  # noqa: E402
from newsletter.review.preflight import PreflightTimes, run_preflight  # noqa: E402

SAMPLE = ROOT / "samples" / "2011-07-11-weekly-highlights.md"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("digest", nargs="?", type=Path, default=SAMPLE)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    settings = Settings(
        postal_address="PO Box 1, Chiang Mai 50200, Thailand", base_url="https://news.example.org"
    )
    located = load_located_digest(args.digest)
    renderer = Renderer(settings.templates_dir)
    run_preflight(settings, located, spam_check=False, renderer=renderer)  # warm-up
    rules, rules_cpu = [], []
    for _ in range(args.runs):
        start, cpu = time.perf_counter(), time.process_time()
        run_preflight(settings, located, spam_check=False, renderer=renderer)
        rules.append(time.perf_counter() - start)
        rules_cpu.append(time.process_time() - cpu)
    times: list[PreflightTimes] = []
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    findings = run_preflight(settings, located, renderer=renderer, times=times)
    total = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    sa_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    print(f"digest: {args.digest.relative_to(ROOT) if args.digest.is_relative_to(ROOT) else args.digest}")
    print(
        f"preflight rules (median of {args.runs}): {statistics.median(rules) * 1000:.1f} ms "
        f"({statistics.median(rules_cpu) * 1000:.1f} ms of CPU)"
    )
    print(
        f"preflight with SpamAssassin: {total:.2f} s (SpamAssassin {times[0].spamassassin_seconds:.2f} s, "
        f"{sa_cpu:.2f} s of CPU)"
    )
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for finding in findings:
        print(f"  {finding.severity}: {finding.message}")


if __name__ == "__main__":
    main()
