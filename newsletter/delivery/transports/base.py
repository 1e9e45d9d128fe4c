"""The transport seam: everything provider-specific lives behind this one small interface.

A transport receives a batch: the edition's MessageTemplate and the recipients' OutboundMessages. It
decides how to turn them into wire traffic (raw bytes for SMTP and the outbox, one request with
substitutions for SendGrid) and answers with one SendResult per message, in any order. It never raises
for a single recipient's failure; it raises TransportError only when the whole batch could not be tried.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from typing import Protocol

from newsletter.delivery.message import OutboundMessage
from newsletter.delivery.personalise import MessageTemplate


class Outcome(enum.StrEnum):
    accepted = "accepted"
    temporary = "temporary"  # try again later
    permanent = "permanent"  # the receiver refused this recipient for good: a bounce


@dataclasses.dataclass(slots=True)
class SendResult:  # not frozen, for speed: see OutboundMessage
    subscriber_id: int
    outcome: Outcome
    provider_id: str = ""
    detail: str = ""
    code: int | None = None
    retry_after: float | None = None


class Transport(Protocol):
    name: str

    def send(self, template: MessageTemplate, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """Try every message once; one result per message."""
        ...

    def close(self) -> None:
        """Release connections and files; safe to call twice."""
        ...
