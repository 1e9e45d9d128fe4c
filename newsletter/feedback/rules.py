"""Our own rules, only for what the standard library and flufl.bounce do not give.

flufl.bounce finds *who* bounced in non-standard formats but not *why*; the standard library reads
RFC 3464/5965 reports but not the older provider formats. What is left is in the tables below, each
entry with the format it exists for, so a rule can be dropped once nobody sends that format any more.
"""

from __future__ import annotations

import re
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr

from newsletter.feedback.classify import ENHANCED, find_status

# Who sends bounces, and what they call them (for bounces that name no recipient flufl recognises).
BOUNCE_SENDERS = re.compile(
    r"mailer-daemon|postmaster|mail delivery (sub)?system|mail administrator|"
    r"mailadmin|mail-?router|mdaemon|^\s*<>\s*$",
    re.I,
)
BOUNCE_SUBJECTS = re.compile(
    r"undeliver|delivery (status notification|failure|failed|has failed|problem|report)|returned mail|"
    r"mail delivery failed|failure notice|could not be delivered|non.?delivery|nondeliverable|"
    r"not delivered|mail system error|message (was )?rejected|delivery notification|bounced? mail|"
    r"rejected:|returned to sender|unable to deliver|permanent error|delivery unsuccessful|"
    r"не доставлено|unzustellbar|non remis|non recapitabile|no entregado|onbestelbaar",
    re.I,
)

# Feedback loops that predate ARF: (name, sender pattern, subject pattern).
NON_ARF_COMPLAINTS: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = (
    (
        "Hotmail JMRP complaint",
        re.compile(r"staff@hotmail\.com", re.I),
        re.compile(r"complaint about message", re.I),
    ),
    (
        "AOL scomp complaint",
        re.compile(r"scomp@aol\.net", re.I),
        re.compile(r"(client|email) (tos )?(notification|report)", re.I),
    ),
)

# Lines of a notification that carry the reason: the receiving server's reply and its paraphrases.
REASON_LINE = re.compile(
    r"(?<!\d)[45]\d\d[\s\-]|(?<![\d.])[45]\.\d{1,3}\.\d{1,3}|unknown|no such|not found|does not exist|"
    r"full|quota|rejected|refused|denied|invalid|disabled|blocked|expired|timed out|unavailable|unrouteable|"
    r"connection|could not|unable|failed|failure",
    re.I,
)


def subject_of(message: Message) -> str:
    """The Subject as text, RFC 2047 encoded words decoded (bounce subjects are often localised)."""
    raw = str(message.get("Subject", ""))[:2000]
    try:
        return str(make_header(decode_header(raw)))
    except (LookupError, UnicodeError, ValueError, HeaderParseError):
        return raw


def looks_like_bounce(message: Message, *, strict: bool = False) -> bool:
    """A mail system's notice about a failed delivery, by its subject or (unless strict) its sender."""
    if BOUNCE_SUBJECTS.search(subject_of(message)):
        return True
    if strict:
        return False
    return any(BOUNCE_SENDERS.search(str(message.get(h, ""))) for h in ("From", "Sender"))


def worth_heuristics(message: Message) -> bool:
    """Cheap test before flufl.bounce, which costs ~200 ms on an ordinary 140 KB message (DESIGN.md): a
    mail system's sender or subject, an empty envelope sender, a report, or a reason in the subject."""
    return (
        looks_like_bounce(message)
        or message.get_content_type() == "multipart/report"
        or bool(BOUNCE_SENDERS.search(str(message.get("Return-Path", ""))))
        or bool(REASON_LINE.search(subject_of(message)))
    )


def non_arf_complaint(message: Message, original: Message | None) -> tuple[str, str] | None:
    """(feedback loop name, complaining recipient) for a pre-ARF complaint, or None."""
    for candidate in (message, original):
        if candidate is not None and candidate.get("X-HmXmrOriginalRecipient"):
            recipient = parseaddr(str(candidate.get("X-HmXmrOriginalRecipient")))[1]
            return "Hotmail JMRP complaint", recipient if "@" in recipient else ""
    sender = str(message.get("From", ""))
    subject = subject_of(message)
    for name, sender_re, subject_re in NON_ARF_COMPLAINTS:
        if sender_re.search(sender) and subject_re.search(subject):
            recipient = parseaddr(str(original.get("To", "")))[1] if original is not None else ""
            return name, recipient if "@" in recipient else ""
    return None


def header_recipients(message: Message) -> list[str]:
    """Recipients named in the bounce's own header: Exim's ``X-Failed-Recipients``, and the DSN fields
    some gateways put at the top level instead of in a delivery-status part."""
    values = [
        str(v)
        for name in ("X-Failed-Recipients", "Original-Recipient", "Final-Recipient")
        for v in message.get_all(name) or []
    ]
    values = [v.split(";", 1)[1] if ";" in v else v for v in values]
    found = [a for _, a in getaddresses(values) if "@" in a and " " not in a]
    return list(dict.fromkeys(a for a in found))[:50]


def _own_lines(lines: list[str], index: int, needle: str) -> list[str]:
    """The line naming the address and up to three after it, stopping where another address's begins."""
    own = [lines[index]]
    for line in lines[index + 1 : index + 4]:
        head = line.split(" ", 1)[0].lower()
        if "@" in head and needle not in head:
            break
        own.append(line)
    return own


def diagnostic_near(text: str, recipient: str, limit: int = 500) -> str:
    """The receiver's words about ``recipient``: the line naming it (and the next few), else the first
    line that reads like an SMTP reply or a reason. "" when the text has none."""
    lines = [" ".join(line.split()) for line in text.splitlines()[:4000]]
    if recipient:
        needle = recipient.lower()
        windows = [
            " ".join(filter(None, _own_lines(lines, index, needle)))
            for index, line in enumerate(lines)
            if needle in line.lower()
        ]
        for window in windows:
            if find_status(window) or REASON_LINE.search(window.replace(recipient, "")):
                return window[:limit]
        for window in windows:  # words of their own about the address, even in no words we know
            if len(re.sub(r"[\W_]+", "", window.lower().replace(needle, ""))) > 15:
                return window[:limit]
    for index, line in enumerate(lines):
        if ENHANCED.search(line) or (REASON_LINE.search(line) and find_status(line)):
            return " ".join(filter(None, _own_lines(lines, index, "\0")))[:limit]  # with its wrapped lines
    for index, line in enumerate(lines):
        if REASON_LINE.search(line) and len(line) > 12:  # a heading ("Technical details …:") and its words
            return " ".join(filter(None, lines[index : index + 3]))[:limit]
    return ""
