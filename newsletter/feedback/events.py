"""FeedbackEvent: the one record every feedback source is normalised into, at the edge.

A SendGrid webhook post, a DSN or ARF report in the bounce mailbox, a 5xx reply at send time and a
mailto unsubscribe request all become ``FeedbackEvent``s; only ``apply.FeedbackPolicy`` turns them into
changes of a subscriber's state. The ``dedupe_key`` names the event in its source (the SendGrid event
id, the bounce message and recipient, the delivery refused at send time), so whichever way the same
event arrives twice it is applied once.

The errors of this package hang under ``NewsletterError`` like every other:

    NewsletterError
    └── FeedbackError          feedback input that is refused as a whole; nothing was changed
        ├── BadSignature       a webhook whose signature is missing, does not verify, or is too old
        └── MalformedFeedback  input of the wrong shape (not an email message, JSON not a list of events)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping

from newsletter.delivery.links import Links
from newsletter.errors import NewsletterError
from newsletter.feedback.records import FeedbackKind

__all__ = [
    "BadSignature",
    "FeedbackError",
    "FeedbackEvent",
    "FeedbackKind",
    "MalformedFeedback",
    "delivery_from_ref",
    "digest_key",
]

DEDUPE_KEY_LENGTH = 160


class FeedbackError(NewsletterError):
    """Feedback input refused as a whole; nothing was applied."""


class BadSignature(FeedbackError):
    """Unsigned, tampered or stale: the sender cannot be trusted to speak for our subscribers."""


class MalformedFeedback(FeedbackError):
    """Input of the wrong shape: the message says what was expected."""


@dataclasses.dataclass(frozen=True, slots=True)
class FeedbackEvent:
    """One thing a receiver or a subscriber told us about one delivery or address.

    ``status`` is the RFC 3463 enhanced code (``5.1.1``) or the SMTP reply code when that is all there
    is; ``diagnostic`` is the receiver's own words; ``reason`` a name of the vocabulary in
    ``reasons.py`` (the policy acts on it; "" leaves the decision to ``kind`` alone, as for
    unsubscribes). ``evidence`` is copied into the ConsentEvent so a suppression can be explained later
    (which file, which provider event, which server said what).
    """

    kind: FeedbackKind
    source: str
    dedupe_key: str
    recipient: str = ""
    subscriber_id: int | None = None
    edition_id: int | None = None
    status: str = ""
    diagnostic: str = ""
    reason: str = ""
    occurred_at: dt.datetime | None = None
    evidence: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.dedupe_key or len(self.dedupe_key) > DEDUPE_KEY_LENGTH:
            raise ValueError(f"dedupe_key must be 1..{DEDUPE_KEY_LENGTH} characters")

    @property
    def is_bounce(self) -> bool:
        return self.kind in (FeedbackKind.hard_bounce, FeedbackKind.soft_bounce)


def digest_key(source: str, *parts: str) -> str:
    """A dedupe key of bounded length from arbitrary text (Message-IDs can be long and hostile)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()[:48]
    return f"{source}:{digest}"


def delivery_from_ref(links: Links, ref: str) -> tuple[int, int] | None:
    """(edition id, subscriber id) from an ``e<edition>-s<subscriber>-<sig>`` ref we signed, else None.

    The ref is the tag part of the VERP address (also sent as X-Newsletter-Ref and SendGrid custom
    arg), so the VERP check verifies it: a forged ref cannot suppress a stranger.
    """
    ref = ref.strip()
    if not ref or len(ref) > 80 or "@" in ref or "+" in ref:
        return None
    return links.parse_verp(f"ref+{ref}@ref.invalid")
