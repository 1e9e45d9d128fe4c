"""Reading a returned message: RFC 3464 delivery reports, RFC 5965 (ARF) feedback reports, and the rest.

Order matters for cost and for truth (DESIGN.md, pitfalls): a standard report part is read with the
standard library first (it carries the recipient, the status code and the diagnostic); only a message
without one goes to flufl.bounce, whose heuristics know decades of non-standard bounce formats but
answer with addresses alone (and are slow on ordinary mail). For those, the status and the reason are
dug out of the notification text by ``rules.py``. Auto-replies are recognised before the heuristics,
because an out-of-office note quoting an address must never look like a bounce.

``parse_report`` never raises for a message it merely does not understand (that is ``kind="none"``); it
raises ``MalformedFeedback`` for input that is not an email message at all.
"""

from __future__ import annotations

import dataclasses
import email
import email.message
import logging
from collections.abc import Iterator
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr
from typing import Literal

from newsletter.feedback.classify import ENHANCED, Verdict, auto_reply_reason, classify, reread, verdict
from newsletter.feedback.events import MalformedFeedback
from newsletter.feedback.rules import (
    diagnostic_near,
    header_recipients,
    looks_like_bounce,
    non_arf_complaint,
    subject_of,
    worth_heuristics,
)

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 25 * 1024 * 1024
FailureKind = Literal["hard", "soft", "complaint", "unsubscribe", "auto-reply", "delivered"]
ReportKind = Literal["bounce", "complaint", "auto-reply", "delivered", "none"]
# RFC 5965 feedback types that are a reader's complaint about our mail, and those that ask to leave.
COMPLAINT_TYPES = frozenset({"abuse", "fraud"})
OPT_OUT_TYPES = frozenset({"opt-out", "optout", "unsubscribe"})


@dataclasses.dataclass(frozen=True, slots=True)
class Failure:
    """One recipient a report speaks about. ``recipient`` may be "" when the report names nobody.

    ``reason`` is a name from the vocabulary (``reasons.py``); ``fault`` and ``action`` come with it.
    """

    recipient: str
    kind: FailureKind
    status: str
    reason: str
    diagnostic: str = ""
    temporary: bool = False
    fault: str = ""
    action: str = ""

    @classmethod
    def of(cls, recipient: str, found: Verdict, status: str = "", diagnostic: str = "") -> Failure:
        kind: FailureKind = found.kind
        if found.reason in ("vacation", "delivered"):
            kind = "auto-reply" if found.reason == "vacation" else "delivered"
        return cls(
            recipient,
            kind,
            status or found.status,
            found.reason,
            diagnostic,
            found.temporary,
            str(found.fault),
            str(found.action),
        )


@dataclasses.dataclass(frozen=True)
class Report:
    """What one returned message says, and the parts of it that lead back to a delivery."""

    kind: ReportKind
    method: str  # dsn, arf, flufl, rules, auto-reply, none
    failures: tuple[Failure, ...]
    reason: str
    message: Message
    original: Message | None = None  # the returned message or its headers, when included
    feedback_type: str = ""

    @property
    def message_id(self) -> str:
        return header(self.message, "Message-ID")


def header(message: Message | None, name: str) -> str:
    """A header as one clean line of text, whatever its encoding ("" when absent or unreadable)."""
    if message is None:
        return ""
    try:
        value = message.get(name)
        if value is None:
            return ""
        return " ".join(str(value).split())[:2000]
    except (TypeError, ValueError, LookupError, UnicodeError):
        return ""


def parse_message(raw: bytes) -> Message:
    """The message, or MalformedFeedback when ``raw`` is too large or not an email message at all."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MalformedFeedback(f"message of {len(raw)} bytes is larger than {MAX_MESSAGE_BYTES}: not read")
    # Leading blank lines (a message pasted into a file, a saved web-mail download) are not content.
    message = email.message_from_bytes(raw.lstrip(b" \t\r\n"), policy=compat32)
    names = message.keys()
    if not names or not any(name.isascii() and name.replace("-", "").isalnum() for name in names):
        raise MalformedFeedback("not an email message: it has no header fields")
    return message


def text_of(part: Message, limit: int = 200_000) -> str:
    """Decoded text of a leaf part; unknown or lying charsets fall back rather than fail."""
    try:
        payload = part.get_payload(decode=True)
    except (TypeError, ValueError, AssertionError):
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw[:limit] if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload[:limit].decode(charset, "replace")
    except (LookupError, UnicodeError, ValueError):
        return payload[:limit].decode("latin-1")


def walk(message: Message, max_parts: int = 500) -> Iterator[Message]:
    """``Message.walk`` with a bound on the number of parts (hostile nesting costs nothing)."""
    for index, part in enumerate(message.walk()):
        if index >= max_parts:
            return
        yield part


def notification_text(message: Message) -> str:
    """The human-readable text of a report, without the returned original message."""
    chunks: list[str] = []
    skip: set[int] = set()
    for part in walk(message):
        if id(part) in skip:
            continue
        content_type = part.get_content_type()
        if content_type in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            skip.update(id(p) for p in walk(part))
            continue
        if part.get_content_maintype() == "text" and not part.is_multipart():
            chunks.append(text_of(part))
        if sum(len(c) for c in chunks) > 200_000:
            break
    return "\n".join(chunks)


def original_of(message: Message) -> Message | None:
    """The returned original message (or just its headers) inside a report, if there is one."""
    for part in walk(message):
        content_type = part.get_content_type()
        if content_type == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
            if isinstance(inner, Message):
                return inner
        if content_type in ("text/rfc822-headers", "message/rfc822-headers"):
            return HeaderParser(policy=compat32).parsestr(text_of(part))
    return None


def address_of(value: str) -> str:
    """``user@host`` from "rfc822; <User@Host>" or "Name <user@host>"; "" when there is none."""
    value = value.split(";", 1)[1] if ";" in value.split("@", 1)[0] else value
    address = parseaddr(value.strip())[1] or value.strip().strip("<>")
    address = address.strip().strip("<>").strip()
    return address if "@" in address and len(address) <= 320 and " " not in address else ""


# -- RFC 5965: feedback reports ------------------------------------------------------------------


def _arf(message: Message) -> Report | None:
    for part in walk(message):
        if part.get_content_type() != "message/feedback-report":
            continue
        fields = part.get_payload(0) if part.is_multipart() else None
        if not isinstance(fields, Message):
            fields = HeaderParser(policy=compat32).parsestr(text_of(part))
        feedback_type = header(fields, "Feedback-Type").lower()
        original = original_of(message)
        recipients = [address_of(v) for v in fields.get_all("Original-Rcpt-To") or []]
        if not any(recipients):
            recipients = [a for _, a in getaddresses([header(original, "To")]) if "@" in a][:1]
        reason = f"feedback report ({feedback_type or 'no type'}) from {header(fields, 'User-Agent') or '?'}"
        if feedback_type in COMPLAINT_TYPES or feedback_type in OPT_OUT_TYPES:
            kind: FailureKind = "complaint" if feedback_type in COMPLAINT_TYPES else "unsubscribe"
            failures = tuple(
                Failure(r, kind, "", "feedback", reason, action="suppress") for r in (recipients or [""])
            )
            return Report("complaint", "arf", failures, reason, message, original, feedback_type)
        return Report("none", "arf", (), f"{reason}: not about a recipient", message, original, feedback_type)
    return None


# -- RFC 3464: delivery status notifications -----------------------------------------------------


def _dsn(message: Message) -> Report | None:
    found = False
    failures: list[Failure] = []
    delivered: list[Failure] = []
    text: str | None = None
    for part in walk(message):
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload() if part.is_multipart() else _blocks(text_of(part))
        for block in blocks:
            if not isinstance(block, Message) or not (block.get("Final-Recipient") or block.get("Action")):
                continue  # the per-message block, or an empty one
            found = True
            action = header(block, "Action").lower()
            recipient = (
                address_of(header(block, "Original-Recipient"))
                or address_of(header(block, "Final-Recipient"))
                or address_of(header(block, "X-Actual-Recipient"))
            )
            status = header(block, "Status").split(" ")[0]
            status = status if ENHANCED.fullmatch(status) else ""  # "553", "failed": not a DSN code
            if action.startswith(("delivered", "relayed", "expanded")):
                delivered.append(Failure.of(recipient, verdict("delivered", status, False), status))
                continue
            if not action.startswith(("failed", "fail", "error", "delayed")):
                continue
            diagnostic = header(block, "Diagnostic-Code")
            if not diagnostic:
                text = notification_text(message) if text is None else text
                diagnostic = diagnostic_near(text, recipient)
            found_verdict = classify(status, diagnostic, temporary=action.startswith("delayed"))
            if found_verdict.reason == "undefined":  # the words near the address say nothing: read it all
                text = notification_text(message) if text is None else text
                found_verdict = reread(found_verdict, subject_of(message) + "\n" + text)
            # The report's Action decides whether the MTA is still trying (a 4.4.7 "failed" has given up).
            found_verdict = verdict(found_verdict.reason, found_verdict.status, action.startswith("delayed"))
            failures.append(Failure.of(recipient, found_verdict, status, _strip_type(diagnostic)))
    if not found:
        return None  # a report part with no recipient blocks: let the heuristics read the text
    if not failures:
        reason = "delivery report without failures (delivered, relayed or expanded)"
        return Report("delivered", "dsn", tuple(delivered), reason, message, original_of(message))
    return Report("bounce", "dsn", tuple(failures), failures[0].reason, message, original_of(message))


def _blocks(text: str) -> list[Message]:
    """Header blocks of a delivery-status part that arrived as text (encoded, or built by hand)."""
    parser = HeaderParser(policy=compat32)
    return [parser.parsestr(chunk) for chunk in text.replace("\r\n", "\n").split("\n\n") if chunk.strip()]


def _strip_type(diagnostic: str) -> str:
    """ "smtp; 550 5.1.1 …" → "550 5.1.1 …" (the diagnostic-type prefix says nothing to a person)."""
    head, sep, rest = diagnostic.partition(";")
    typed = sep and head.strip().lower() in ("smtp", "x-unix", "x-postfix", "x-local")
    return rest.strip() if typed else diagnostic


# -- everything else: flufl.bounce for the address, our rules for status and reason ---------------


def _heuristic(message: Message) -> Report | None:
    from flufl.bounce import all_failures

    if not worth_heuristics(message):
        return None
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # third-party heuristics over hostile input: a miss is not fatal, a crash would be
        log.warning("flufl.bounce failed on a message; treating it as not understood", exc_info=True)
        temporary, permanent = frozenset(), frozenset()
    text = notification_text(message)
    failures: list[Failure] = []
    if not permanent and not temporary:
        permanent = frozenset(a.encode() for a in header_recipients(message))
    for raw, is_temporary in [(a, False) for a in sorted(permanent)] + [(a, True) for a in sorted(temporary)]:
        recipient = raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)
        diagnostic = diagnostic_near(text, recipient)
        found = classify("", diagnostic, temporary=is_temporary)
        if found.reason == "undefined":  # the words near the address say nothing: read the whole notice
            found = reread(found, subject_of(message) + "\n" + text)
        found = verdict(found.reason, found.status, is_temporary)  # flufl's word on temporary stands
        failures.append(Failure.of(recipient, found, "", diagnostic))
    if failures:
        return Report("bounce", "flufl", tuple(failures), failures[0].reason, message, original_of(message))
    diagnostic = diagnostic_near(text, "")
    if looks_like_bounce(message, strict=True) or (looks_like_bounce(message) and diagnostic):
        failure = Failure.of("", classify("", diagnostic), "", diagnostic)
        return Report(
            "bounce", "rules", (failure,), "bounce that names no recipient", message, original_of(message)
        )
    return None


def parse_report(raw: bytes | Message) -> Report:
    """What this returned message says. MalformedFeedback only for input that is not a message."""
    message = raw if isinstance(raw, Message) else parse_message(raw)
    for reader in (_arf, _dsn):
        report = reader(message)
        if report is not None:
            return report
    original = original_of(message)
    complaint = non_arf_complaint(message, original)
    if complaint is not None:
        name, recipient = complaint
        return Report(
            "complaint",
            "rules",
            (Failure(recipient, "complaint", "", "feedback", name, action="suppress"),),
            name,
            message,
            original or message,
            "abuse",
        )
    auto_reply = auto_reply_reason(message)
    # Exim marks its own bounces "Auto-Submitted: auto-replied"; a mail system's failure notice is a bounce.
    if auto_reply is not None and not looks_like_bounce(message):
        sender = address_of(header(message, "From"))
        failure = Failure(sender, "auto-reply", "", "vacation", auto_reply, action="record")
        return Report("auto-reply", "auto-reply", (failure,), auto_reply, message, original_of(message))
    report = _heuristic(message)
    if report is not None:
        return report
    return Report("none", "none", (), "not a bounce or complaint", message)
