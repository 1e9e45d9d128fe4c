"""Why one recipient failed: a reason from the vocabulary (``reasons.py``), read from the status code and
the receiver's words together, by the tables in ``wordings.py``.

How a verdict is reached (first step that answers wins):

1. the enhanced status code (RFC 3463) is found: the most specific one in the Status field or the reply
   ("Status: 5.0.0" with "550 5.1.1 user unknown" is 5.1.1; a generic X.0.0 or 4.4.7 only when no
   other code is given);
2. a *decisive* code settles it (5.7.26 is an authentication failure whatever else the text says);
3. the receiver's words, matched against the vendors' wordings in priority order;
4. the code's subject and detail (``STATUS_REASONS``), then the plain reply code (``BASIC_REASONS``);
5. a permanent refusal at RCPT TO with nothing more said is an unknown recipient, at MAIL FROM ours;
6. otherwise ``undefined``.

Hard or soft is the field's sense (sisimai's): hard for the recipient-permanent reasons (userunknown,
hostunknown, hasmoved, notaccept) when not temporary, soft for every other failure. What the policy
*does* follows the reason (``reasons.action_for``): a 5.7.26 is soft and yet never suppresses anyone.
Auto-replies (RFC 3834: ``Auto-Submitted``, vacation and out-of-office notices) are not bounces at all.
"""

from __future__ import annotations

import dataclasses
import re
from email.message import Message
from typing import Literal

from newsletter.feedback.reasons import Action, Fault, action_for, is_hard, reason
from newsletter.feedback.wordings import (
    AT_MAIL_FROM,
    AT_RCPT,
    BASIC_REASONS,
    CANONICAL_CODES,
    COMPILED,
    DECISIVE,
    PHRASE_CODES,
    STATUS_REASONS,
)

Kind = Literal["hard", "soft"]

ENHANCED = re.compile(r"(?<![\d.vV])([245])\.(\d{1,3})\.(\d{1,3})(?![\d]|\.\d)")
BASIC = re.compile(r"(?<![\d.])([245][0-5]\d)(?=[\s\-:]|$)")
MAX_TEXT = 4000


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    kind: Kind
    reason: str  # a name from reasons.REASONS
    status: str  # the enhanced code used ("5.1.1"), or "" when none was found
    fault: Fault
    action: Action
    temporary: bool = False

    @property
    def meaning(self) -> str:
        return reason(self.reason).meaning


def find_status(text: str) -> str:
    """The most telling enhanced status code in ``text`` ("5.1.1"): the first that is not X.0.0 or 4.4.7
    when there is one, else the first; else one derived from a basic SMTP reply code; else ""."""
    generic = ""
    for match in ENHANCED.finditer(text[:MAX_TEXT]):
        code = ".".join(match.groups())
        if code.endswith(".0.0") or code == "4.4.7":
            generic = generic or code
            continue
        return code
    if generic:
        return generic
    basic = BASIC.search(text[:MAX_TEXT])
    if basic:
        return f"{basic.group(1)[0]}.0.0"
    return ""


def normalise_status(status: str) -> str:
    """``5.1.1`` from "5.1.1 (bad mailbox)", "smtp; 550 5.1.1", "550" … ; "" when there is no code."""
    return find_status(status or "")


def reply_code(text: str) -> str:
    """The first plain SMTP reply code ("550") in the text, or ""."""
    match = BASIC.search(text[:MAX_TEXT])
    return match.group(1) if match else ""


def classify(status: str, diagnostic: str, *, temporary: bool = False) -> Verdict:
    """The reason one recipient failed; ``temporary`` marks a delay notice or a 4xx reply."""
    text = " ".join((diagnostic or "")[:MAX_TEXT].split()).lower()
    code = normalise_status(status)
    detail = find_status(text)
    if detail and (not code or (code.endswith(".0.0") and code[0] == detail[0]) or code == "4.4.7"):
        code = detail if not (code == "4.4.7" and detail.endswith(".0.0")) else code
    if code.startswith("4"):
        temporary = True
    name = decide(code, text, temporary)
    if not code and name in CANONICAL_CODES:  # the words named a reason but gave no code
        phrase = next((c for pattern, c in PHRASE_CODES if pattern.search(text)), "")
        canonical = phrase or CANONICAL_CODES[name]
        code = ("4" if temporary else canonical[0]) + canonical[1:]
    return verdict(name, code, temporary)


def reread(first: Verdict, text: str) -> Verdict:
    """A second look when the words near the address said nothing: the reason named anywhere in the
    whole notice (only its words; its codes may be quoted transcripts), else the first verdict."""
    words = " ".join(text[:MAX_TEXT].split()).lower()
    for name, pattern in COMPILED:
        if pattern.search(words):
            code = first.status
            if not code or code.endswith(".0.0"):
                canonical = CANONICAL_CODES.get(name, code)
                code = code or (
                    ("4" if first.temporary else canonical[0]) + canonical[1:] if canonical else ""
                )
            return verdict(name, code, first.temporary)
    return first


def decide(code: str, text: str, temporary: bool) -> str:
    """The reason name for a code and the (lower-cased) words, by the steps in the module docstring."""
    if code in DECISIVE:
        return DECISIVE[code]
    for name, pattern in COMPILED:
        if pattern.search(text):
            return name
    if code and not code.endswith(".0.0"):
        subject_detail = code.split(".", 1)[1]
        if subject_detail in STATUS_REASONS:
            return STATUS_REASONS[subject_detail]
    basic = reply_code(text)
    if basic in BASIC_REASONS:
        return BASIC_REASONS[basic]
    if not temporary and (code.startswith("5") or basic.startswith("5")):
        if AT_RCPT.search(text):
            return "userunknown"
        if AT_MAIL_FROM.search(text):
            return "rejected"
    if code.startswith("2"):
        return "delivered"
    return "undefined"


def verdict(name: str, code: str, temporary: bool) -> Verdict:
    entry = reason(name)
    kind: Kind = "hard" if is_hard(entry.name, temporary) else "soft"
    return Verdict(kind, entry.name, code, entry.fault, action_for(entry.name, temporary), temporary)


# RFC 3834 and the vendor headers that came before it. A DSN may itself say "Auto-Submitted:
# auto-replied", so this is only asked of messages that carry no delivery or feedback report.
AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|vacation|abwesenheit|"
    r"absence|away from (the )?office|on leave|r[ée]ponse automatique|risposta automatica)",
    re.I,
)


def auto_reply_reason(message: Message) -> str | None:
    """Why this message is an auto-reply (RFC 3834, vacation, out-of-office), or None."""
    submitted = str(message.get("Auto-Submitted", "")).strip().lower()
    if submitted.startswith("auto-replied"):
        return "auto-reply (Auto-Submitted: auto-replied)"
    for header in ("X-Autoreply", "X-Autorespond"):
        if header in message:
            return f"auto-reply ({header})"
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence == "auto_reply":
        return "auto-reply (Precedence: auto_reply)"
    subject = str(message.get("Subject", ""))
    if AUTO_REPLY_SUBJECT.search(subject):
        return f"auto-reply (subject {subject.strip()[:60]!r})"
    return None
