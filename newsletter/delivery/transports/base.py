"""The transport seam: everything provider-specific lives behind this one small interface.

A transport receives a batch: the edition's MessageTemplate and the recipients' OutboundMessages. It
decides how to turn them into wire traffic (raw bytes for SMTP and the outbox, one request with
substitutions for SendGrid) and answers with one SendResult per message, in any order. It never raises
for a single recipient's failure; it raises TransportError only when the whole batch could not be tried.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
from collections.abc import Iterable, Iterator, Sequence
from typing import Self

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


DEFAULT_WINDOW = 64
"""Messages a transport without its own figure takes per ``send`` call, and results written per group."""


class Transport(abc.ABC):
    """Everything the send loop uses of a transport, with the defaults a simple one needs.

    A transport writes ``send`` and names itself; the rest comes from here. ``window``: how many messages
    may be in the transport's hands without a result (the send loop writes results at least this often,
    and the crash guarantee in docs/delivery.md counts it). ``batch_hint``: how many recipients the send
    loop should read at once to keep the transport busy (0: the ``batch_size`` setting decides).
    ``send_iter``: results as they come; by default ``send`` on groups of ``window`` messages, pulled from
    ``messages`` only as each group fills, so a rate-limited or stoppable feed works. Transports that
    stream (SMTP, SendGrid) override it. ``close`` releases connections; ``with transport:`` calls it.
    """

    name: str = ""
    window: int = DEFAULT_WINDOW
    batch_hint: int = 0

    @abc.abstractmethod
    def send(self, template: MessageTemplate, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """Try every message once; one result per message."""

    def send_iter(
        self, template: MessageTemplate, messages: Iterable[OutboundMessage]
    ) -> Iterator[SendResult]:
        chunk: list[OutboundMessage] = []
        for message in messages:
            chunk.append(message)
            if len(chunk) >= self.window:
                yield from self.send(template, chunk)
                chunk = []
        if chunk:
            yield from self.send(template, chunk)

    def close(self) -> None:
        """Release connections and files; safe to call twice."""
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
