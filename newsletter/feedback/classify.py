"""Hard or soft: one readable table from (status code, the receiver's words) to what the policy does.

Hard means the address will never accept mail: the mailbox or domain does not exist, has moved, or is
disabled. Everything else that fails (mailbox full, blocked, filtered, rate-limited, expired, content
refused, or a failure nobody explained) is soft, whether the code is 4.x.x or 5.x.x: a soft bounce only
suppresses after it repeats (see ``apply``), so a wrong "soft" costs a few more attempts while a wrong
"hard" loses a reader for good. That asymmetry is why unexplained permanent failures are soft.

How the table is read (first matching rule wins, top to bottom):

1. A *decisive* enhanced status code (RFC 3463) settles it: 5.1.1 is an unknown user whatever the text.
2. Otherwise the receiver's words decide (a ``550 5.7.1 User unknown`` is an unknown user).
3. Otherwise the class and subject of the code give a soft reason.

Temporary failures (4.x.x, or a DSN ``Action: delayed``) are always soft, whatever the words say.
Auto-replies (RFC 3834: ``Auto-Submitted``, vacation and out-of-office notices) are not bounces at all.
"""

from __future__ import annotations

import dataclasses
import re
from email.message import Message
from typing import Literal

Kind = Literal["hard", "soft"]

ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
BASIC = re.compile(r"(?<![\d.])([45][0-5]\d)(?=[\s\-:]|$)")


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    kind: Kind
    reason: str
    status: str | None = None  # regex matched against the whole "C.S.D" code
    text: str | None = None  # regex searched (case-insensitive) in the diagnostic
    decisive: bool = False  # a status rule that the receiver's words cannot override
    code: str = ""  # the RFC 3463 code a text rule stands for, reported when the receiver gave none


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    kind: Kind
    reason: str
    status: str  # the enhanced code used ("5.1.1"), or "" when none was found


RULES: tuple[Rule, ...] = (
    # 1. Decisive codes.
    Rule("hard", "unknown user", status=r"5\.1\.1", decisive=True),
    Rule("hard", "unknown domain", status=r"5\.1\.2", decisive=True),
    Rule("hard", "invalid address", status=r"5\.1\.3", decisive=True),
    Rule("hard", "mailbox moved", status=r"5\.1\.6", decisive=True),
    Rule("hard", "domain accepts no mail (null MX)", status=r"5\.1\.10", decisive=True),
    Rule("hard", "mailbox disabled", status=r"5\.2\.1", decisive=True),
    Rule("soft", "mailbox full", status=r"[45]\.2\.2", decisive=True),
    Rule("soft", "message too large", status=r"[45]\.(2\.3|3\.4)", decisive=True),
    Rule("soft", "delivery time expired", status=r"[45]\.4\.7", decisive=True),
    # 2. The receiver's words.
    Rule(
        "soft",
        "mailbox full",
        code="5.2.2",
        text=r"mailbox (is )?full|full mailbox|over ?quota|quota (exceeded|full)|"
        r"exceeded (storage|the quota)|insufficient (disk )?(space|storage)|mailbox size limit|"
        r"too many messages in",
    ),
    Rule(
        "soft",
        "blocked or filtered",
        code="5.7.1",
        text=r"spam|blocked|blacklist|block ?list|listed (at|in|on)|reputation|policy|rejected for|"
        r"content|virus|dnsbl|spamhaus|not authori[sz]ed|access denied",
    ),
    Rule(
        "soft",
        "rate limited",
        code="4.7.0",
        text=r"rate ?limit|too many (connections|recipients)|try (again )?later|greylist|temporar",
    ),
    Rule(
        "hard",
        "unknown user",
        code="5.1.1",
        text=r"user (is )?unknown|unknown (user|recipient|local|address|mailbox)|no such (user|mailbox|"
        r"recipient|address|account|local user)|(mailbox|address|account|recipient|user)"
        r"( name)? (is )?(not found|invalid|does ?n.?t exist|does not exist|unavailable)|"
        r"invalid (recipient|mailbox|address|user)|not (a )?(valid|known) (user|recipient|mailbox)|"
        r"not listed in|recipient (address )?rejected|unrouteable address|no mailbox here|"
        r"addressee unknown|mailbox not found|user not found|not our customer|is not a known user|"
        r"undeliverable address|bad destination mailbox",
    ),
    Rule(
        "hard",
        "unknown domain",
        code="5.1.2",
        text=r"host (or domain name )?not found|unknown host|domain (not found|does not exist)|"
        r"no (mx|mail exchanger|such domain)|name or service not known|nxdomain|"
        r"unrouteable (mail )?domain",
    ),
    Rule(
        "hard",
        "mailbox disabled",
        code="5.2.1",
        text=r"account (has been )?(disabled|deactivated|closed|suspended|expired|inactive)|"
        r"mailbox (disabled|deactivated|closed|inactive)|no longer (active|accepting|valid|in use)|"
        r"not accepting (mail|messages)",
    ),
    Rule(
        "soft",
        "receiving system unavailable",
        code="5.3.2",
        text=r"could not (initiate|establish) (an )?smtp|connection (refused|dropped|reset)|"
        r"no route to host|not accepting network messages",
    ),
    Rule(
        "soft",
        "delivery time expired",
        code="4.4.7",
        text=r"expired|timed? ?out|retry time|could not be delivered within",
    ),
    # 3. What the code's class and subject say when nothing above did.
    Rule("soft", "temporary failure", status=r"4\..*"),
    Rule("soft", "refused by policy", status=r"5\.7\..*"),
    Rule("soft", "message content refused", status=r"5\.6\..*"),
    Rule("soft", "routing or network failure", status=r"5\.4\..*"),
    Rule("soft", "receiving system unavailable", status=r"5\.3\..*"),
    Rule("soft", "mailbox problem", status=r"5\.2\..*"),
    Rule("soft", "address problem", status=r"5\.1\..*"),
    Rule("soft", "protocol failure", status=r"5\.5\..*"),
)

_COMPILED = [
    (
        rule,
        re.compile(rule.status) if rule.status else None,
        re.compile(rule.text, re.I) if rule.text else None,
    )
    for rule in RULES
]

# Plain SMTP replies (RFC 5321) for servers that give no enhanced code.
BASIC_TO_ENHANCED = {"551": "5.1.6", "552": "5.2.2", "553": "5.1.3", "550": "5.0.0", "554": "5.0.0"}


def find_status(text: str) -> str:
    """The first enhanced status code in ``text`` ("5.1.1"), else one derived from a basic SMTP code."""
    match = ENHANCED.search(text)
    if match:
        return ".".join(match.groups())
    basic = BASIC.search(text)
    if basic:
        code = basic.group(1)
        return BASIC_TO_ENHANCED.get(code, f"{code[0]}.0.0")
    return ""


def normalise_status(status: str) -> str:
    """``5.1.1`` from "5.1.1 (bad mailbox)", "smtp; 550 5.1.1", "550" … ; "" when there is no code."""
    return find_status(status or "")


def classify(status: str, diagnostic: str, *, temporary: bool = False) -> Verdict:
    """Hard or soft for one failed recipient; ``temporary`` marks a delay notice or a 4xx reply."""
    code = normalise_status(status)
    detail = ENHANCED.search(diagnostic or "")
    if detail and (not code or (code.endswith(".0.0") and code[0] == detail.group(1))):
        code = ".".join(detail.groups())  # "Status: 5.0.0" with "550 5.1.1 user unknown" is 5.1.1
    code = code or find_status(diagnostic or "")
    if code.startswith("4"):
        temporary = True
    text = (diagnostic or "")[:4000]
    for rule, status_re, _text_re in _COMPILED:
        if status_re is not None and rule.decisive and code and status_re.fullmatch(code):
            return _verdict(rule, code, temporary)
    for rule, status_re, text_re in _COMPILED:
        if rule.decisive:
            continue
        if text_re is not None and text_re.search(text):
            return _verdict(rule, code, temporary)
        if status_re is not None and code and status_re.fullmatch(code):
            return _verdict(rule, code, temporary)
    return Verdict("soft", "temporary failure" if temporary else "unexplained failure", code)


def _verdict(rule: Rule, code: str, temporary: bool) -> Verdict:
    if not code and rule.code:
        code = ("4" if temporary else rule.code[0]) + rule.code[1:]
    if temporary and rule.kind == "hard":
        return Verdict("soft", f"temporary failure ({rule.reason})", code)
    return Verdict(rule.kind, rule.reason, code)


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
