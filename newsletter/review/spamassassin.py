"""The SpamAssassin content score of one message, from Debian's ``spamassassin``, offline.

Run as ``spamassassin -L -t``: local tests only (no DNS blocklists, no network at all), test mode (the
message is not changed, a report of the rules that fired is appended), Bayes and auto-learning off and
an empty user preferences file, so the score depends on the message alone and nothing is written to
the home directory. Without the program the check is reported as skipped, not as passed.

A run costs 2-3 s of CPU (Perl loading its rules), more than the whole send of a small list, and the
editor's usual sequence checks the same message twice: ``newsletter preflight``, then ``newsletter send``,
whose gate runs preflight again. So reports are kept in ``ScoreCache``, by the message's content and the
installed program and rules: the same message is scored once until SpamAssassin or its rules change.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

TIMEOUT_SECONDS = 60
_SUMMARY = re.compile(r"Content analysis details:\s+\((-?\d+(?:\.\d+)?) points, (-?\d+(?:\.\d+)?) required\)")
_RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s+(.*)$")


@dataclasses.dataclass(frozen=True)
class Rule:
    name: str
    points: float
    description: str


@dataclasses.dataclass(frozen=True)
class SpamReport:
    score: float
    required: float
    rules: tuple[Rule, ...]

    @property
    def scoring(self) -> tuple[Rule, ...]:
        """The rules that moved the score (informational 0.0 rules such as HTML_MESSAGE left out)."""
        return tuple(r for r in self.rules if abs(r.points) >= 0.001)


class SpamAssassinMissing(Exception):
    """The program is not installed (or not where the settings say)."""


class SpamAssassinFailed(Exception):
    """It ran but gave no report (a broken installation, a timeout)."""


def parse_report(output: str) -> SpamReport:
    """The score, threshold and rules from the report that ``-t`` appends to the message."""
    start = output.rfind("Content analysis details:")
    match = _SUMMARY.search(output, start) if start >= 0 else None
    if match is None:
        raise SpamAssassinFailed("no 'Content analysis details' report in spamassassin's output")
    rules: list[Rule] = []
    table = output[match.end() :].splitlines()
    for line in table:
        if line.startswith("---- ") or " pts rule name" in line or not line.strip():
            continue
        found = _RULE.match(line)
        if found:
            rules.append(Rule(found[2], float(found[1]), found[3].strip()))
        elif rules and line.startswith(" " * 10):  # a description continued on the next line
            last = rules[-1]
            rules[-1] = Rule(last.name, last.points, f"{last.description} {line.strip()}")
        else:
            break
    return SpamReport(float(match[1]), float(match[2]), tuple(rules))


RULE_FOLDERS = ("/var/lib/spamassassin", "/etc/spamassassin", "/usr/share/spamassassin")
"""Where Debian's SpamAssassin keeps its rules: a change there (sa-update, a local rule) changes scores."""
CACHE_SECONDS = 7 * 24 * 3600
"""A kept report older than a week is scored again (rules updated somewhere this key does not see)."""
_DATE_LINE = re.compile(rb"^Date:[^\r\n]*\r?\n", re.MULTILINE | re.IGNORECASE)


class ScoreCache:
    """SpamAssassin reports kept in a folder, one small JSON file per message content.

    The key is the message without its Date header (the only part that changes between two renders of
    the same edition; with no Received headers no date rule can fire on it), the program's path and
    modification time, and the modification times of the rule folders. A cache that cannot be read or
    written is no cache: the check runs as if there were none.
    """

    def __init__(self, folder: Path, *, max_age: float = CACHE_SECONDS) -> None:
        self.folder = folder
        self.max_age = max_age

    def key(self, message: bytes, program: str) -> str:
        digest = hashlib.sha256(_DATE_LINE.sub(b"", message, count=1))
        for path in (program, *RULE_FOLDERS):
            try:
                stamp = os.stat(path).st_mtime_ns
            except OSError:
                stamp = 0
            digest.update(f"\0{path}\0{stamp}".encode())
        return digest.hexdigest()

    def get(self, key: str) -> SpamReport | None:
        path = self.folder / f"spamassassin-{key}.json"
        try:
            if time.time() - path.stat().st_mtime > self.max_age:
                return None
            data = json.loads(path.read_text(encoding="utf-8"))
            rules = tuple(Rule(str(r[0]), float(r[1]), str(r[2])) for r in data["rules"])
            return SpamReport(float(data["score"]), float(data["required"]), rules)
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None

    def put(self, key: str, report: SpamReport) -> None:
        data = {
            "score": report.score,
            "required": report.required,
            "rules": [[r.name, r.points, r.description] for r in report.rules],
        }
        path = self.folder / f"spamassassin-{key}.json"
        partial = path.with_suffix(f".{os.getpid()}.partial")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(data), encoding="utf-8")
            partial.replace(path)  # whole or not at all: a reader never sees half a report
        except OSError:
            with contextlib.suppress(OSError):
                partial.unlink()


def content_score(
    message: bytes, command: str = "spamassassin", cache: ScoreCache | None = None
) -> SpamReport:
    """The report for ``message``: kept in ``cache`` when given, so the same content is scored once."""
    program = shutil.which(command)
    if program is None:
        raise SpamAssassinMissing(command)
    key = cache.key(message, program) if cache is not None else ""
    kept = cache.get(key) if cache is not None else None
    if kept is not None:
        return kept
    report = _run(program, message)
    if cache is not None:
        cache.put(key, report)
    return report


def _run(program: str, message: bytes) -> SpamReport:
    args = [
        program,
        "-L",  # local tests only: nothing leaves the machine
        "-t",
        "-p",
        "/dev/null",
        "--cf=use_bayes 0",
        "--cf=bayes_auto_learn 0",
        "--cf=use_auto_whitelist 0",
    ]
    try:
        done = subprocess.run(  # noqa: S603 (a fixed argument list, the message on stdin)
            args, input=message, capture_output=True, timeout=TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise SpamAssassinFailed(f"spamassassin took longer than {TIMEOUT_SECONDS} s") from None
    except OSError as exc:
        raise SpamAssassinFailed(f"cannot run {program}: {exc}") from None
    output = done.stdout.decode("utf-8", "replace")
    try:
        return parse_report(output)
    except SpamAssassinFailed:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [
            f"exit {done.returncode}"
        ]
        raise SpamAssassinFailed(f"spamassassin gave no report ({detail[0]})") from None
