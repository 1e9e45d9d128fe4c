"""The SpamAssassin content score of one message, from Debian's ``spamassassin``, offline.

Run as ``spamassassin -L -t``: local tests only (no DNS blocklists, no network at all), test mode (the
message is not changed, a report of the rules that fired is appended), Bayes and auto-learning off and
an empty user preferences file, so the score depends on the message alone and nothing is written to
the home directory. Without the program the check is reported as skipped, not as passed.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

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


def content_score(message: bytes, command: str = "spamassassin") -> SpamReport:
    program = shutil.which(command)
    if program is None:
        raise SpamAssassinMissing(command)
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
