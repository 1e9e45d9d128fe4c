"""Discard: builds every message in full, then drops it.

For rehearsing a send (timing, memory, the ledger) without delivering anything: everything but the last
hop runs for real, so the figures it gives are the send loop's own. Never the default.
"""

from __future__ import annotations

from collections.abc import Sequence

from newsletter.delivery.message import OutboundMessage
from newsletter.delivery.personalise import MessageTemplate
from newsletter.delivery.transports.base import Outcome, SendResult, Transport


class DiscardTransport(Transport):
    name = "discard"

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0

    def send(self, template: MessageTemplate, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        results = []
        for message in messages:
            self.bytes += len(template.build(message))
            self.messages += 1
            results.append(SendResult(message.subscriber_id, Outcome.accepted))
        return results
