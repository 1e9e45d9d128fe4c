"""Accuracy per corpus and cost per message of the bounce reader: the figures in docs/feedback.md.

python bench/bench_classify.py            # print the figures
python bench/bench_classify.py --write    # and rewrite the figures section of docs/feedback.md
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.feedback.dsn import parse_report  # noqa: E402
from tests.support import feedback_corpora as corpora  # noqa: E402

DOC = ROOT / "docs" / "feedback.md"
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"


def pct(score: corpora.Score) -> str:
    right, total, _ = score
    return f"{right}/{total} ({100 * right / total:.1f}%)"


def timings() -> tuple[dict[str, float], Counter[str]]:
    """Median milliseconds per message by the path that answered, over every corpus file."""
    by_method: dict[str, list[float]] = {}
    methods: Counter[str] = Counter()
    for path in corpora.every_file():
        raw = path.read_bytes()
        best = float("inf")
        method = "refused"
        for _ in range(3):
            started = time.perf_counter()
            try:
                method = parse_report(raw).method
            except Exception:  # refusals are timed too
                method = "refused"
            best = min(best, time.perf_counter() - started)
        by_method.setdefault(method, []).append(best * 1000)
        methods[method] += 1
    return {m: statistics.median(v) for m, v in by_method.items()}, methods


def throughput(rounds: int = 3) -> tuple[int, float]:
    """(messages, messages per second) reading every corpus file once per round; the best round."""
    raws = [path.read_bytes() for path in corpora.every_file()]
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for raw in raws:
            with contextlib.suppress(Exception):  # the one refused file is part of the work too
                parse_report(raw)
        best = min(best, time.perf_counter() - started)
    return len(raws), len(raws) / best


def rules_throughput(rounds: int = 3) -> tuple[int, float]:
    """(replies, replies per second) for ``classify`` alone over every failure's words in the corpora."""
    from newsletter.feedback.classify import classify

    replies = [
        (f.status, f.diagnostic)
        for path in corpora.every_file()
        for report in [corpora.read(path)]
        if report is not None
        for f in report.failures
    ]
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for status, diagnostic in replies:
            classify(status, diagnostic)
        best = min(best, time.perf_counter() - started)
    return len(replies), len(replies) / best


def ordinary_message() -> tuple[float, float]:
    """(parse_report ms, flufl.bounce alone ms) on a 140 KB newsletter-like message that is no bounce."""
    from email import message_from_bytes
    from email.policy import compat32

    from flufl.bounce import all_failures

    paragraph = "<p>Weekly highlights: news, analysis and events from the region, with links.</p>\n"
    body = ("<html><body>" + paragraph * 1800 + "</body></html>").encode()
    raw = (
        b"From: Editor <news@example.org>\nTo: reader@example.com\nSubject: Weekly highlights\n"
        b"Message-ID: <e1.s1@example.org>\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n"
        + body
    )

    def best(call: Callable[[], object]) -> float:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        return min(times) * 1000

    ours = best(lambda: parse_report(raw))
    theirs = best(lambda: all_failures(message_from_bytes(raw, policy=compat32)))
    return ours, theirs


def figures() -> str:
    codes, types = corpora.score_gem_codes()
    flufl_methods: Counter[str] = Counter()
    for name in corpora.flufl_expected():
        report = corpora.read(corpora.FLUFL / name)
        flufl_methods[report.method if report else "refused"] += 1
    medians, methods = timings()
    rows = [
        (
            "flufl.bounce test data (117 files)",
            "addresses + temporary/permanent per file",
            pct(corpora.score_flufl()),
        ),
        ("", "scan_message / all_failures API cases", pct(corpora.score_flufl_api())),
        (
            "bounce_email gem (41 files)",
            "bounced? (37 bounces, 4 non-bounces)",
            pct(corpora.score_gem_bounced()),
        ),
        ("", "status code where the gem asserts one", pct(codes)),
        ("", "permanent vs transient where asserted", pct(types)),
        (
            "stalwart mail-auth ARF (5 reports)",
            "feedback type + reported recipient",
            pct(corpora.score_arf()),
        ),
        (
            "PHP-Bounce-Handler (79 files, no answers)",
            "feedback-loop files read as complaints",
            pct(corpora.php_feedback_reports()),
        ),
    ]
    reason_rows = [
        ("flufl.bounce test data", "flufl-bounce/"),
        ("bounce_email gem", "bounce_email/"),
        ("PHP-Bounce-Handler", "php-bounce-handler/"),
        ("stalwart mail-auth ARF", "stalwart-mail-auth-arf/"),
    ]
    rows += [
        (name, "reason per recipient, against the one written down by reading the file", pct(score))
        for name, prefix in reason_rows
        for score in [corpora.score_reasons(prefix)]
    ]
    lines = ["| corpus | question | right |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    census = corpora.php_census()
    lines += [
        "",
        f"PHP-Bounce-Handler census (no recorded answers): {dict(sorted(census.items()))}.",
        f"flufl.bounce corpus, answered by: {dict(sorted(flufl_methods.items()))} (`dsn` = our",
        "standard-library RFC 3464 reader; `flufl` = flufl.bounce's heuristics, whose own expectations",
        "these are, plus our status/reason rules).",
        "Misses: " + ("; ".join(codes[2] + types[2]) or "none") + ".",
        "",
        "Median time per message by the path that answered (all corpus files, best of 3):",
        "",
        "| path | files | median ms |",
        "|---|---|---|",
    ]
    lines += [f"| {m} | {methods[m]} | {medians[m]:.2f} |" for m in sorted(medians)]
    ours, theirs = ordinary_message()
    count, rate = throughput()
    replies, rules_rate = rules_throughput()
    lines += [
        "",
        f"Throughput over every corpus file ({count} messages, best of 3 rounds): {rate:,.0f} messages/s "
        "(most of it flufl.bounce's heuristics on the non-standard formats); the reason rules alone "
        f"(`classify` over the {replies} failures' words): {rules_rate:,.0f} replies/s.",
        f"An ordinary 140 KB HTML message (no bounce): parse_report {ours:.1f} ms; flufl.bounce's "
        f"all_failures alone {theirs:.1f} ms (the gate in `rules.worth_heuristics` skips it).",
    ]
    return "\n".join(lines)


def main() -> None:
    text = figures()
    print(text)
    if "--write" in sys.argv:
        doc = DOC.read_text()
        start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
        DOC.write_text(doc[:start] + "\n" + text + "\n" + doc[end:])
        print(f"\nwrote {DOC}")


if __name__ == "__main__":
    main()
