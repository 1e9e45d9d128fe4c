"""The reason vocabulary: why a message came back, whose fault that is, and what the policy does about it.

The names are sisimai's (the de-facto standard among bounce parsers, so figures from other tools and
ours can be compared), plus three for what is not a failure: ``feedback`` (a complaint), ``vacation``
(an auto-reply) and ``delivered`` (a positive delivery report). Every reason belongs to one party:

- the **recipient**'s: the address or mailbox itself (unknown, moved, disabled, full, filtering us);
- ours as the **sender**: the receiver refused *us* (authentication, reputation, content, our IP's PTR
  record), so the reader did nothing wrong and must never be suppressed for it;
- the **network**'s and time's: the path or the receiving system failed, or took too long.

The policy follows the reason, not the status class (a 5.7.26 DMARC failure is permanent and yet no
reason to drop a reader): ``suppress`` at once, ``soft`` (suppress after ``soft_bounce_threshold``
within the window), ``sender`` (never suppress; counted on the edition and, at send time, able to pause
the send), ``record`` (kept for the statistics, changes nothing).
"""

from __future__ import annotations

import dataclasses
import enum


class Fault(enum.StrEnum):
    recipient = "recipient"
    sender = "sender"
    network = "network"
    none = ""  # not a failure: complaints, auto-replies, delivery reports


class Action(enum.StrEnum):
    suppress = "suppress"
    soft = "soft"
    sender = "sender"
    record = "record"


@dataclasses.dataclass(frozen=True, slots=True)
class Reason:
    name: str
    fault: Fault
    action: Action
    meaning: str


def _r(name: str, fault: Fault, action: Action, meaning: str) -> Reason:
    return Reason(name, fault, action, meaning)


R, S, N = Fault.recipient, Fault.sender, Fault.network
REASONS: dict[str, Reason] = {
    r.name: r
    for r in (
        # The recipient's: the address will never take mail, or its mailbox is refusing for now.
        _r("userunknown", R, Action.suppress, "the mailbox does not exist"),
        _r("hostunknown", R, Action.suppress, "the domain does not exist or has no mail server"),
        _r("hasmoved", R, Action.suppress, "the mailbox has moved and left no forwarding address"),
        _r("notaccept", R, Action.suppress, "the domain accepts no mail (null MX, no SMTP service)"),
        _r("suspend", R, Action.soft, "the mailbox is disabled or suspended"),
        _r("mailboxfull", R, Action.soft, "the mailbox is full"),
        _r("filtered", R, Action.soft, "the recipient's own filter or settings refused the message"),
        # Ours as the sender: the receiver refused us, not the reader.
        _r("authfailure", S, Action.sender, "SPF, DKIM or DMARC did not pass"),
        _r("blocked", S, Action.sender, "our sending IP or domain is on a block list"),
        _r("badreputation", S, Action.sender, "our sending IP or domain has a poor reputation"),
        _r("requireptr", S, Action.sender, "our sending IP has no (matching) reverse DNS record"),
        _r("spamdetected", S, Action.sender, "the message was judged to be spam"),
        _r("virusdetected", S, Action.sender, "the message was judged to carry malware"),
        _r("policyviolation", S, Action.sender, "the message broke the receiver's policy"),
        _r("contenterror", S, Action.sender, "the message's content or format was refused"),
        _r("notcompliantrfc", S, Action.sender, "the message does not comply with RFC 5322"),
        _r("mesgtoobig", S, Action.sender, "the message is larger than the receiver accepts"),
        _r("exceedlimit", S, Action.sender, "the message exceeds the mailbox's size limit"),
        _r("norelaying", S, Action.sender, "the server refused to relay for us"),
        _r("securityerror", S, Action.sender, "authentication or encryption the receiver requires failed"),
        _r("rejected", S, Action.sender, "our envelope sender address was refused"),
        _r("syntaxerror", S, Action.sender, "the server did not understand our SMTP commands"),
        # The network's and time's: nothing is known to be wrong with the reader or with us.
        _r("expired", N, Action.soft, "delivery was retried until the time ran out"),
        _r("networkerror", N, Action.soft, "the connection or routing to the receiver failed"),
        _r("systemerror", N, Action.soft, "the receiving system failed"),
        _r("systemfull", N, Action.soft, "the receiving system is out of storage"),
        _r("mailererror", N, Action.soft, "the receiving host's delivery program failed"),
        _r("toomanyconn", N, Action.record, "too many connections or recipients at once"),
        _r("speeding", N, Action.record, "we sent faster than the receiver accepts"),
        _r("onhold", N, Action.soft, "the report gives too little to decide"),
        _r("undefined", N, Action.soft, "the receiver gave no reason that can be read"),
        # Not failures.
        _r("feedback", Fault.none, Action.suppress, "a complaint (feedback loop / ARF report)"),
        _r("vacation", Fault.none, Action.record, "an auto-reply (RFC 3834, out of office)"),
        _r("delivered", Fault.none, Action.record, "a positive delivery report (2.x.x)"),
    )
}
HARD_REASONS = frozenset({"userunknown", "hostunknown", "hasmoved", "notaccept"})
"""The field's "hard bounce": the address will never accept mail. Everything else that fails is soft."""

ACTION_TEXT: dict[Action, str] = {
    Action.suppress: "suppress",
    Action.soft: "count a soft bounce",
    Action.sender: "never suppress: counted against the edition",
    Action.record: "record only",
}


def reason(name: str) -> Reason:
    """The vocabulary entry; an unknown name (an old row, a typo in a rule) reads as ``undefined``."""
    return REASONS.get(name) or REASONS["undefined"]


def is_hard(name: str, temporary: bool) -> bool:
    """Hard bounce in the field's sense: a recipient-permanent reason, not reported as temporary."""
    return name in HARD_REASONS and not temporary


def action_for(name: str, temporary: bool) -> Action:
    """What the policy does: a temporary failure (the MTA is still trying) only ever is recorded."""
    entry = reason(name)
    if temporary and entry.action in (Action.suppress, Action.soft):
        return Action.record
    return entry.action
