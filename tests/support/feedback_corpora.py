"""Scoring the bounce parser against the public corpora in tests/fixtures/corpora (see their PROVENANCE.md).

Shared by tests/feedback/test_corpora.py (asserts) and bench/bench_classify.py (prints the figures for
docs/feedback.md). Each scorer returns (right, total, misses) for one question a corpus answers.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from newsletter.cli.feedback import classify_file
from newsletter.feedback.dsn import Report, parse_report
from newsletter.feedback.events import MalformedFeedback
from tests.support.corpus_reasons import EXPECTED

CORPORA = Path(__file__).resolve().parent.parent / "fixtures" / "corpora"
FLUFL = CORPORA / "flufl-bounce"
GEM = CORPORA / "bounce_email"
PHP = CORPORA / "php-bounce-handler" / "eml"
ARF = CORPORA / "stalwart-mail-auth-arf" / "resources" / "arf"

Score = tuple[int, int, list[str]]


def read(path: Path) -> Report | None:
    """The report, or None when the file is refused as not being an email message."""
    try:
        return parse_report(path.read_bytes())
    except MalformedFeedback:
        return None


def every_file() -> list[Path]:
    """Every message file of every corpus (licence texts left out)."""
    return sorted(
        p
        for p in CORPORA.rglob("*")
        if p.is_file() and p.suffix in (".txt", ".eml") and not any("LICENSE" in part for part in p.parts)
    )


def flufl_expected() -> dict[str, tuple[set[str], bool]]:
    """file -> (expected addresses, temporary): the union over the detectors that name addresses."""
    cases = json.loads((FLUFL / "expected.json").read_text())["cases"]
    expected: dict[str, tuple[set[str], bool]] = {}
    for case in cases:
        addresses = {a.lower() for a in case["expected_addresses"]}
        if not addresses:
            continue  # "this detector finds nothing here": says nothing about the message as a whole
        known, _ = expected.get(case["file"], (set(), case["temporary"]))
        expected[case["file"]] = (known | addresses, case["temporary"])
    return expected


def score_flufl() -> Score:
    """Addresses found, with the right temporary/permanent answer, per file."""
    right, misses = 0, []
    expected = flufl_expected()
    for name, (addresses, temporary) in sorted(expected.items()):
        report = read(FLUFL / name)
        found = {f.recipient.lower() for f in (report.failures if report else ()) if f.temporary == temporary}
        if found == addresses:
            right += 1
        else:
            misses.append(f"{name}: expected {sorted(addresses)} temporary={temporary}, got {sorted(found)}")
    return right, len(expected), misses


def score_flufl_api() -> Score:
    """The four scan_message/all_failures cases (including a message that must yield nobody)."""
    cases = json.loads((FLUFL / "expected.json").read_text())["api_cases"]
    right, misses = 0, []
    for case in cases:
        report = read(FLUFL / case["file"])
        failures = report.failures if report else ()
        permanent = {f.recipient.lower() for f in failures if not f.temporary and f.recipient}
        temporary = {f.recipient.lower() for f in failures if f.temporary and f.recipient}
        want_permanent = {a.lower() for a in case.get("permanent", case.get("expected", []))}
        want_temporary = {a.lower() for a in case.get("temporary", [])}
        if permanent == want_permanent and temporary == want_temporary:
            right += 1
        else:
            misses.append(f"{case['file']}: permanent {sorted(permanent)} temporary {sorted(temporary)}")
    return right, len(cases), misses


def score_gem_bounced() -> Score:
    """bounced? for every file of bounces/, non_bounces/ and fixtures/no_subject.txt."""
    right, total, misses = 0, 0, []
    for directory, want in (("bounces", True), ("non_bounces", False), ("fixtures", False)):
        for path in sorted((GEM / directory).iterdir()):
            report = read(path)
            got = report is not None and report.kind == "bounce"
            total += 1
            if got == want:
                right += 1
            else:
                misses.append(f"{directory}/{path.name}: bounced={got}, expected {want}")
    return right, total, misses


def score_gem_codes() -> tuple[Score, Score]:
    """(status codes, permanent-vs-transient types) of the files the gem's tests assert."""
    specific: dict[str, dict[str, str]] = json.loads((GEM / "expected.json").read_text())["specific"]
    codes: list[int] = [0, 0]
    types: list[int] = [0, 0]
    code_misses: list[str] = []
    type_misses: list[str] = []
    for name, want in specific.items():
        report = read(GEM / name)
        failure = report.failures[0] if report and report.failures else None
        status = failure.status if failure else ""
        if "code" in want:
            codes[1] += 1
            if status == want["code"]:
                codes[0] += 1
            else:
                code_misses.append(f"{name}: status {status or '(none)'}, expected {want['code']}")
        if "type" in want:
            types[1] += 1
            permanent = bool(failure) and not failure.temporary and not status.startswith("4")
            if permanent == ("HARD" in want["type"]):
                types[0] += 1
            else:
                type_misses.append(f"{name}: permanent={permanent}, expected {want['type']}")
    return (codes[0], codes[1], code_misses), (types[0], types[1], type_misses)


def score_arf() -> Score:
    """Feedback type (abuse -> complaint, auth-failure -> not a complaint) and the reported recipient."""
    right, total, misses = 0, 0, []
    for expected_file in sorted(ARF.glob("*.json")):
        want: dict[str, Any] = json.loads(expected_file.read_text())
        report = read(expected_file.with_suffix(".eml"))
        total += 1
        is_complaint = report is not None and report.kind == "complaint"
        recipient = (want.get("original_rcpt_to") or "").strip("<>").lower()
        named = {f.recipient.lower() for f in report.failures} if report else set()
        type_ok = is_complaint == (want["feedback_type"] == "Abuse")
        recipient_ok = not is_complaint or not recipient or recipient in named
        type_seen = report.feedback_type if report else "refused"
        if type_ok and recipient_ok and type_seen.replace("-", "") == want["feedback_type"].lower():
            right += 1
        else:
            misses.append(
                f"{expected_file.stem}: {type_seen} {sorted(named)}; expected "
                f"{want['feedback_type']} {recipient or '-'}"
            )
    return right, total, misses


def php_census() -> Counter[str]:
    """No answers recorded: what each file was read as (bounce/complaint/auto-reply/none/refused)."""
    census: Counter[str] = Counter()
    for path in sorted(PHP.iterdir()):
        report = read(path)
        census["refused" if report is None else report.method if report.kind == "none" else report.kind] += 1
    return census


def php_feedback_reports() -> Score:
    """The PHP corpus's arf*/fbl-*/hotmailbounce files are all feedback-loop reports."""
    right, total, misses = 0, 0, []
    for path in sorted(PHP.iterdir()):
        if not path.name.startswith(("arf", "fbl-", "hotmailbounce")):
            continue
        report = read(path)
        total += 1
        if report is not None and report.kind == "complaint":
            right += 1
        else:
            misses.append(f"{path.name}: {report.kind if report else 'refused'}")
    return right, total, misses


def reasons_found(relative: str) -> dict[str, str]:
    """recipient (lower-cased) -> reason (or kind, for what has none) that we find in one corpus file."""
    return {
        line["recipient"].lower(): line["reason"] or line["kind"]
        for line in classify_file(CORPORA / relative)
    }


def score_reasons(prefix: str) -> Score:
    """Per recipient, the reason we find against the one written down by reading the file."""
    right, total, misses = 0, 0, []
    for relative, want in sorted(EXPECTED.items()):
        if not relative.startswith(prefix):
            continue
        found = reasons_found(relative)
        wanted = want if isinstance(want, dict) else {r: want for r in found}
        for recipient, reason in wanted.items():
            total += 1
            if found.get(recipient) == reason:
                right += 1
            else:
                misses.append(f"{relative} {recipient or '-'}: {found.get(recipient)}, expected {reason}")
    return right, total, misses
