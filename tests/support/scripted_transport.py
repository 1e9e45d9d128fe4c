"""The one fake transport: answers come from a plan, like httpx's ``MockTransport(handler)``.

``ScriptedTransport(plan)`` is a real ``Transport`` (the base class's ``send_iter``, ``window`` and
``close``), so the send loop drives it exactly as it drives the outbox. Each message is built in full
(the bytes a real transport would hand over), then the plan decides its answer from the message and
its attempt number; a plan may also raise, which ends the batch as a crash or a transport failure
would. ``deliver`` receives every accepted message with its bytes (an outbox folder, a list); ``after_each``
runs after each answer with the number of messages tried so far (to pause or cancel mid-send).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence

from newsletter.delivery.message import OutboundMessage
from newsletter.delivery.personalise import MessageTemplate
from newsletter.delivery.transports.base import Outcome, SendResult, Transport

Plan = Callable[[OutboundMessage, int], SendResult]
"""(message, attempt number from 1) -> the transport's answer for it."""


def accept(message: OutboundMessage, attempt: int) -> SendResult:
    return SendResult(message.subscriber_id, Outcome.accepted, provider_id=f"p{message.subscriber_id}")


class ScriptedTransport(Transport):
    name = "scripted"

    def __init__(
        self,
        plan: Plan = accept,
        *,
        after_each: Callable[[int], None] | None = None,
        deliver: Callable[[OutboundMessage, bytes], object] | None = None,
    ) -> None:
        self.plan = plan
        self.after_each = after_each
        self.deliver = deliver
        self.attempts: collections.Counter[int] = collections.Counter()

    @property
    def tried(self) -> int:
        return sum(self.attempts.values())

    def send(self, template: MessageTemplate, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        results = []
        for message in messages:
            raw = template.build(message)
            self.attempts[message.subscriber_id] += 1
            result = self.plan(message, self.attempts[message.subscriber_id])
            if self.deliver is not None and result.outcome is Outcome.accepted:
                self.deliver(message, raw)
            results.append(result)
            if self.after_each is not None:
                self.after_each(self.tried)
        return results


def crash_after(count: int, error: Exception) -> Plan:
    """Accept ``count`` messages, then raise ``error`` (a process dying mid-batch)."""
    seen = 0

    def plan(message: OutboundMessage, attempt: int) -> SendResult:
        nonlocal seen
        seen += 1
        if seen > count:
            raise error
        return accept(message, attempt)

    return plan
