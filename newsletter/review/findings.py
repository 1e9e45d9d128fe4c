"""What preflight reports: one Finding per problem, in words, with its severity and where it comes from.

Kept apart from the rules so that every reader (the CLI, ``--json``, the editor's web desk) shares one
shape: ``severity``, ``rule``, ``message``, ``field`` (a digest field path such as
``sections[3].items[0].url``, or a setting or template name) and ``line`` (in the digest file, where known).
"""

from __future__ import annotations

import dataclasses
import enum


class Severity(enum.StrEnum):
    error = "error"  # a real send stops (unless --force)
    warning = "warning"  # worth fixing; the send goes ahead
    note = "note"  # information: a score, a check that was skipped


SEVERITY_ORDER = {Severity.error: 0, Severity.warning: 1, Severity.note: 2}


@dataclasses.dataclass(frozen=True)
class Finding:
    severity: Severity
    rule: str
    message: str
    field: str | None = None
    line: int | None = None

    @property
    def where(self) -> str:
        """'line 77, sections[7].items[0].url', 'setting base_url', or '' when it is the whole edition."""
        parts = [f"line {self.line}" if self.line else "", self.field or ""]
        return ", ".join(p for p in parts if p)

    def as_dict(self) -> dict[str, object]:
        return {
            "severity": str(self.severity),
            "rule": self.rule,
            "message": self.message,
            "field": self.field,
            "line": self.line,
            "where": self.where,
        }


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity is Severity.error for f in findings)


def sorted_findings(findings: list[Finding]) -> list[Finding]:
    """Errors first, then warnings, then notes; within each, in the digest's order."""
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.line or 0))
