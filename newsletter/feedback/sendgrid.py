"""SendGrid's signed Event Webhook: verify the post, then turn its events into FeedbackEvents.

Verification uses the sendgrid library's ``EventWebhook`` helper (ECDSA P-256 over the timestamp header
followed by the raw body, byte for byte, trailing CRLF included) with the public key SendGrid shows in
its settings (base64 SubjectPublicKeyInfo). A post is refused as a whole, before anything is applied,
when it is unsigned, does not verify, carries a timestamp outside ``webhook_max_age_seconds`` (a
captured post cannot be replayed later), or is not a JSON list of event objects.

Events come home through the custom args our SendGrid transport attaches: ``nl_ref``, the signed
``e<edition>-s<subscriber>-<sig>``, whose signature is checked here (``ref`` is read too, and the plain
``edition_id``/``subscriber_id`` or ``nl_edition``/``nl_subscriber`` of other senders and earlier
versions); SendGrid copies them into every event. Without them the recipient address is looked up:
the post is signed by SendGrid, so the address is SendGrid's word about a message we sent.
"""

from __future__ import annotations

import binascii
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

from newsletter.delivery.links import Links
from newsletter.errors import ConfigError
from newsletter.feedback.classify import classify, verdict
from newsletter.feedback.events import (
    BadSignature,
    FeedbackEvent,
    FeedbackKind,
    MalformedFeedback,
    delivery_from_ref,
    digest_key,
)
from newsletter.feedback.wordings import CANONICAL_CODES

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_EVENTS = 10_000

# SendGrid ``dropped`` reasons: SendGrid itself refused to send, from its suppression lists or its checks.
DROPPED: dict[str, tuple[FeedbackKind, str]] = {
    "bounced address": (FeedbackKind.hard_bounce, "userunknown"),
    "invalid": (FeedbackKind.hard_bounce, "userunknown"),
    "spam reporting address": (FeedbackKind.complaint, "feedback"),
    "unsubscribed address": (FeedbackKind.unsubscribe, ""),
}
# ``bounce_classification`` (SendGrid's own reading of the reply), used when the reply's words tell us
# nothing: https://docs.sendgrid.com/ui/analytics-and-reporting/bounce-and-block-classifications
CLASSIFICATIONS: dict[str, str] = {
    "invalid address": "userunknown",
    "mailbox unavailable": "suspend",
    "content": "contenterror",
    "reputation": "badreputation",
    "frequency or volume": "speeding",
    "technical": "systemerror",
    "unclassified": "undefined",
}

Resolver = Callable[[str], int | None]


class WebhookVerifier:
    """Checks one post's signature and age; built once from settings (the key is parsed once)."""

    def __init__(self, public_key: str, max_age_seconds: int = 600) -> None:
        from sendgrid.helpers.eventwebhook import EventWebhook

        if not public_key.strip():
            raise ConfigError("no SendGrid webhook key configured (NEWSLETTER_SENDGRID_WEBHOOK_KEY)")
        try:
            self._helper = EventWebhook(public_key.strip())
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"NEWSLETTER_SENDGRID_WEBHOOK_KEY is not a valid public key: {exc}") from None
        self.max_age = max_age_seconds

    def verify(
        self, body: bytes, signature: str | None, timestamp: str | None, *, now: float | None = None
    ) -> None:
        """Return quietly for a genuine, fresh post; BadSignature otherwise."""
        if not signature or not timestamp:
            raise BadSignature("the post is not signed (missing signature or timestamp header)")
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
            raise BadSignature("the signature timestamp is not a number of seconds")
        age = (time.time() if now is None else now) - int(timestamp)
        if abs(age) > self.max_age:
            raise BadSignature(f"the signature timestamp is {int(age)} s from now (limit {self.max_age} s)")
        try:
            payload = body.decode("utf-8")
            ok = self._helper.verify_signature(payload, signature, timestamp)
        except (UnicodeDecodeError, binascii.Error, ValueError, TypeError):
            ok = False
        if not ok:
            raise BadSignature("the signature does not verify")


def parse_events(body: bytes) -> list[dict[str, Any]]:
    """The events of a post: a JSON list of objects, each with text ``event`` and ``email``."""
    if len(body) > MAX_BODY_BYTES:
        raise MalformedFeedback(f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedFeedback(f"body is not JSON: {exc}") from None
    except RecursionError:  # "[[[[…" nested deeper than the parser goes
        raise MalformedFeedback("body is not a list of events (nested too deeply)") from None
    if not isinstance(data, list):
        raise MalformedFeedback("expected a JSON list of events")
    if len(data) > MAX_EVENTS:
        raise MalformedFeedback(f"more than {MAX_EVENTS} events in one post")
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise MalformedFeedback(f"event {index} is not a JSON object")
        for field in ("event", "email"):
            if not isinstance(item.get(field), str) or not item[field]:
                raise MalformedFeedback(f"event {index} has no text field {field!r}")
    return data


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value) or None
    return None


def _arg(item: dict[str, Any], *names: str) -> Any:
    """A custom arg by its agreed name or the transport's ``nl_`` spelling (both are accepted)."""
    for name in names:
        if item.get(name) not in (None, ""):
            return item[name]
    return None


def _kind(item: dict[str, Any]) -> tuple[FeedbackKind | None, str, str, str]:
    """(kind, status, diagnostic, reason) for one event; kind None for events the policy does not use."""
    name = item["event"].lower()
    status = str(item.get("status", ""))[:16]
    text = str(item.get("reason") or item.get("response") or "")[:2000]
    if name in ("bounce", "blocked"):
        temporary = name == "blocked" or str(item.get("type", "")).lower() == "blocked"
        found = classify(status, text, temporary=temporary)
        named = CLASSIFICATIONS.get(str(item.get("bounce_classification", "")).strip().lower())
        if named and found.reason in ("undefined", "onhold"):
            found = verdict(named, found.status or CANONICAL_CODES.get(named, ""), temporary)
        kind = FeedbackKind.hard_bounce if found.kind == "hard" else FeedbackKind.soft_bounce
        return kind, status or found.status, text, found.reason
    if name == "dropped":
        kind, reason = DROPPED.get(text.lower().strip(), (FeedbackKind.soft_bounce, ""))
        return (
            kind,
            status,
            text,
            reason or (classify(status, text).reason if kind.value.endswith("bounce") else ""),
        )
    if name == "spamreport":
        return FeedbackKind.complaint, "", "spam report", "feedback"
    if name in ("unsubscribe", "group_unsubscribe"):
        return FeedbackKind.unsubscribe, "", name.replace("_", " "), ""
    if name == "delivered":
        return FeedbackKind.delivered, status, text, "delivered"
    if name == "deferred":
        return FeedbackKind.deferred, status, text, classify(status, text, temporary=True).reason
    return None, "", "", ""


def to_feedback(items: list[dict[str, Any]], links: Links, resolve: Resolver) -> list[FeedbackEvent]:
    """FeedbackEvents for the events that matter (opens, clicks and processed are left out)."""
    events: list[FeedbackEvent] = []
    for item in items:
        kind, status, diagnostic, reason = _kind(item)
        if kind is None:
            continue
        edition_id = _int(_arg(item, "edition_id", "nl_edition"))
        subscriber_id = _int(_arg(item, "subscriber_id", "nl_subscriber"))
        ref = _arg(item, "ref", "nl_ref")
        if (edition_id is None or subscriber_id is None) and isinstance(ref, str):
            found = delivery_from_ref(links, ref)
            if found is not None:
                edition_id, subscriber_id = found
        email = item["email"].strip()[:320]
        if subscriber_id is None:
            subscriber_id = resolve(email)
        event_id = item.get("sg_event_id")
        key = (
            f"sendgrid:{event_id}"
            if isinstance(event_id, str) and 0 < len(event_id) <= 140
            else digest_key("sendgrid", json.dumps(item, sort_keys=True, default=str))
        )
        occurred = None
        stamp = item.get("timestamp")
        if isinstance(stamp, int) and not isinstance(stamp, bool) and 0 < stamp < 10**11:
            occurred = dt.datetime.fromtimestamp(stamp, dt.UTC)
        evidence = {
            "sendgrid_event": item["event"],
            "sg_event_id": str(event_id or ""),
            "sg_message_id": str(item.get("sg_message_id", ""))[:200],
        }
        events.append(
            FeedbackEvent(
                kind=kind,
                source="sendgrid",
                dedupe_key=key,
                recipient=email,
                subscriber_id=subscriber_id,
                edition_id=edition_id,
                status=status,
                diagnostic=diagnostic,
                reason=reason,
                occurred_at=occurred,
                evidence=evidence,
            )
        )
    return events
