"""From one message in the bounce mailbox to FeedbackEvents: what it says, and which delivery it is about.

A report is matched to a delivery, most trusted first:

1. the VERP address it was sent to (``Delivered-To``, ``X-Original-To``, ``Envelope-To``, ``To`` …): the
   envelope sender we signed per delivery, verified by ``Links.parse_verp``;
2. a signed ref anywhere in the returned original: its ``Return-Path`` (our VERP address again) or its
   ``X-Newsletter-Ref`` header, also verified (this is what survives when the envelope is lost, and
   what lets a complaint whose recipient the receiver redacted still find its reader), or either of
   them pasted as text into the report (searched in the bytes as received, never a re-serialised copy);
3. the original's ``Message-ID`` when the ledger holds a delivery with exactly that id *and* the report
   names the same recipient address. Message-IDs are not signed, so an unsigned claim must agree with
   our own records twice before it may suppress anyone.

A report that matches nothing is kept and reported, never guessed at by address alone: a forged bounce
must not be able to suppress a stranger. Unsubscribe requests sent to the List-Unsubscribe mailto
address (``Subject: unsubscribe <token>``) are read here too; the token is the authority.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from email.message import Message
from email.utils import getaddresses

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.delivery.ledger_tables import Delivery
from newsletter.delivery.links import Links
from newsletter.feedback.dsn import Failure, Report, header, parse_message, parse_report
from newsletter.feedback.events import FeedbackEvent, FeedbackKind, delivery_from_ref, digest_key
from newsletter.feedback.rules import subject_of
from subscribers.errors import InvalidToken
from subscribers.models import Subscriber
from subscribers.tokens import Purpose

ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "X-Rcpt-To", "To")
VERP_IN_TEXT = re.compile(r"[\w.\-]+\+(e\d{1,18}-s\d{1,18}-[0-9a-f]{10})@[\w.\-]+", re.I)
REF_IN_TEXT = re.compile(r"X-Newsletter-Ref:\s*(e\d{1,18}-s\d{1,18}-[0-9a-f]{10})", re.I)
MESSAGE_ID = re.compile(r"\.e(\d{1,18})\.s(\d{1,18})@")
# How much of a returned message is searched for a ref pasted into its body: reports are small, and a
# huge one must not cost a regex pass over all of it.
FLAT_TEXT_LIMIT = 2_000_000
UNSUBSCRIBE_SUBJECT = re.compile(r"^\s*(?:(?:re|aw|fwd?)\s*:\s*)*unsubscribe\s+(\S{1,64})\s*$", re.I)


@dataclasses.dataclass(frozen=True)
class Reading:
    """What one inbound message amounts to: ``outcome`` is event, ignored (understood, nothing to do)
    or kept (not understood or not matched; left for a person, with ``detail`` saying why)."""

    outcome: str
    detail: str
    events: tuple[FeedbackEvent, ...] = ()
    report: Report | None = None


class InboxReader:
    def __init__(self, links: Links, sessions: sessionmaker[Session]) -> None:
        self._links = links
        self._sessions = sessions

    def read(self, raw: bytes) -> Reading:
        """MalformedFeedback for bytes that are not a message; otherwise a Reading, never an exception."""
        message = parse_message(raw)
        fingerprint = header(message, "Message-ID") or hashlib.sha256(raw).hexdigest()
        unsubscribe = UNSUBSCRIBE_SUBJECT.match(subject_of(message))
        if unsubscribe:
            return self._unsubscribe(message, unsubscribe.group(1), fingerprint)
        report = parse_report(message)
        if report.kind == "none":
            if report.method == "none":
                return Reading("kept", "not a bounce, complaint or unsubscribe request", report=report)
            return Reading("ignored", report.reason, report=report)
        delivery = self.match(report, raw)
        named = ", ".join(f.recipient for f in report.failures if f.recipient) or "no address"
        if delivery is None:
            if report.kind in ("auto-reply", "delivered"):  # nothing to do, nothing a person must look at
                return Reading("ignored", f"{report.reason}: no delivery of ours matched", report=report)
            return Reading("kept", f"{report.kind} for {named}: no delivery of ours matched", report=report)
        edition_id, subscriber_id, how = delivery
        failure = self._failure_for(report, subscriber_id)
        event = FeedbackEvent(
            kind=_kind(failure),
            source={"complaint": "arf", "auto-reply": "auto-reply"}.get(report.kind, "dsn"),
            dedupe_key=digest_key("mail", fingerprint, str(edition_id), str(subscriber_id)),
            recipient=failure.recipient,
            subscriber_id=subscriber_id,
            edition_id=edition_id,
            status=failure.status,
            diagnostic=failure.diagnostic or report.reason,
            reason=failure.reason if failure.kind not in ("unsubscribe",) else "",
            evidence={
                **_evidence(message),
                "matched_by": how,
                "parsed_by": report.method,
                "reason": failure.reason,
                "fault": failure.fault,
                "feedback_type": report.feedback_type,
            },
        )
        return Reading("event", f"{event.kind} ({failure.reason}) matched by {how}", (event,), report)

    # -- matching ------------------------------------------------------------------------------------

    def match(self, report: Report, raw: bytes) -> tuple[int, int, str] | None:
        """(edition id, subscriber id, how) for the delivery this report is about, or None; ``raw`` is
        the message as it came, searched last for a ref pasted into a body."""
        for name in ENVELOPE_HEADERS:
            for value in report.message.get_all(name) or []:
                for _, address in getaddresses([str(value)]):
                    found = self._links.parse_verp(address) if "+" in address else None
                    if found:
                        return (*found, f"VERP {name}")
        original = report.original
        if original is not None:
            for name in ("Return-Path", "Sender", "Errors-To"):
                for _, address in getaddresses([header(original, name)]):
                    found = self._links.parse_verp(address) if "+" in address else None
                    if found:
                        return (*found, f"original {name}")
            found = delivery_from_ref(self._links, header(original, "X-Newsletter-Ref"))
            if found:
                return (*found, "original X-Newsletter-Ref")
        text = raw[:FLAT_TEXT_LIMIT].decode("latin-1")
        for pattern, how in ((REF_IN_TEXT, "X-Newsletter-Ref in text"), (VERP_IN_TEXT, "VERP in text")):
            for ref in dict.fromkeys(m.group(1) for m in pattern.finditer(text)):
                found = delivery_from_ref(self._links, ref)
                if found:
                    return (*found, how)
        return self._by_message_id(report)

    def _by_message_id(self, report: Report) -> tuple[int, int, str] | None:
        message_id = header(report.original, "Message-ID")
        ids = MESSAGE_ID.search(message_id)
        named = {f.recipient.lower() for f in report.failures if f.recipient}
        if not ids or not named:
            return None
        edition_id, subscriber_id = int(ids.group(1)), int(ids.group(2))
        with self._sessions() as session:
            row = session.execute(
                select(Delivery.id, Subscriber.email)
                .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                .where(
                    Delivery.edition_id == edition_id,
                    Delivery.subscriber_id == subscriber_id,
                    Delivery.message_id == message_id,
                )
            ).first()
        if row is None or row.email.lower() not in named:
            return None
        return edition_id, subscriber_id, "original Message-ID and recipient"

    def _failure_for(self, report: Report, subscriber_id: int) -> Failure:
        """The failure about our subscriber (a forwarded address can fail for several)."""
        with self._sessions() as session:
            email = session.scalar(select(Subscriber.email).where(Subscriber.id == subscriber_id)) or ""
        for failure in report.failures:
            if failure.recipient.lower() == email.lower():
                return failure
        hard = [f for f in report.failures if f.kind == "hard"]
        return (hard or list(report.failures))[0]

    # -- mailto unsubscribe --------------------------------------------------------------------------

    def _unsubscribe(self, message: Message, token: str, fingerprint: str) -> Reading:
        try:
            subscriber_id = self._links.signer.verify(Purpose.unsubscribe, token)
        except InvalidToken:
            return Reading("kept", "unsubscribe request with a token that is not ours or was altered")
        event = FeedbackEvent(
            kind=FeedbackKind.unsubscribe,
            source="mailto",
            dedupe_key=digest_key("mailto", fingerprint),
            recipient=header(message, "From")[:320],
            subscriber_id=subscriber_id,
            diagnostic="unsubscribe request by email (List-Unsubscribe mailto)",
            evidence=_evidence(message),
        )
        return Reading("event", "unsubscribe request by email", (event,))


def _evidence(message: Message) -> dict[str, str]:
    return {
        "message_id": header(message, "Message-ID")[:300],
        "from": header(message, "From")[:300],
        "date": header(message, "Date")[:100],
    }


def _kind(failure: Failure) -> FeedbackKind:
    if failure.kind == "complaint":
        return FeedbackKind.complaint
    if failure.kind == "unsubscribe":
        return FeedbackKind.unsubscribe
    if failure.kind == "auto-reply":
        return FeedbackKind.auto_reply
    if failure.kind == "delivered":
        return FeedbackKind.delivered
    if failure.temporary:
        return FeedbackKind.deferred  # a delay notice: the MTA is still trying
    return FeedbackKind.hard_bounce if failure.kind == "hard" else FeedbackKind.soft_bounce
