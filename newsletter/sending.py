"""The send loop: stream confirmed subscribers by id, batch, hand to the transport, keep the ledger.

For each batch: read the next confirmed subscribers after the last id handled (keyset pagination, so
memory is flat in list size), drop those the ledger already settled for this edition, write the rest as
``sending``, call the transport, write each result. A crash between the two writes leaves rows in
``sending``; the next run sends those again with the same Message-ID (at-least-once for the in-flight
batch, exactly-once for everything the ledger settled). Nobody is skipped: a subscriber without a
final ledger row is always attempted.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

from newsletter.config import Settings
from newsletter.deliveries import DeliveryStatus, EditionStatus, Ledger
from newsletter.edition import PreparedEdition
from newsletter.links import Links
from newsletter.message import OutboundMessage, message_id
from newsletter.transports.base import Outcome, SendResult, Transport
from subscribers.store import Recipient, SubscriberStore

ProgressCallback = Callable[[int, int], None]

OUTCOME_STATUS = {
    Outcome.accepted: DeliveryStatus.accepted,
    Outcome.temporary: DeliveryStatus.deferred,
    Outcome.permanent: DeliveryStatus.bounced,
}


@dataclasses.dataclass
class SendSummary:
    edition: str
    transport: str
    recipients: int = 0
    accepted: int = 0
    deferred: int = 0
    bounced: int = 0
    already_sent: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, object]:
        return {**dataclasses.asdict(self), "rate": round(self.rate, 1), "seconds": round(self.seconds, 3)}


class Sender:
    """One send of one edition through one transport. Settings, store and transport come from outside."""

    def __init__(self, *, settings: Settings, store: SubscriberStore, ledger: Ledger, transport: Transport,
                 links: Links) -> None:
        self._settings = settings
        self._store = store
        self._ledger = ledger
        self._transport = transport
        self._links = links
        self._domain = settings.from_domain

    def outbound(self, edition_key: str, edition_id: int, recipient: Recipient) -> OutboundMessage:
        token = self._links.unsubscribe_token(recipient.id)
        verp = self._links.verp_address(edition_id, recipient.id)
        return OutboundMessage(
            subscriber_id=recipient.id,
            email=recipient.email,
            name=recipient.name,
            message_id=message_id(edition_key, edition_id, recipient.id, self._domain),
            envelope_from=verp,
            unsubscribe_url=self._links.unsubscribe_url(token),
            unsubscribe_mailto=self._links.unsubscribe_mailto(token),
            ref=verp.partition("+")[2].partition("@")[0],
        )

    def _record(self, edition_id: int, results: Sequence[SendResult], summary: SendSummary) -> None:
        rows = []
        for result in results:
            status = OUTCOME_STATUS[result.outcome]
            rows.append((result.subscriber_id, status, result.provider_id, result.detail))
            if status is DeliveryStatus.accepted:
                summary.accepted += 1
            elif status is DeliveryStatus.deferred:
                summary.deferred += 1
            else:
                summary.bounced += 1
        self._ledger.record_results(edition_id, rows)

    def send(self, prepared: PreparedEdition, progress: ProgressCallback | None = None) -> SendSummary:
        edition = prepared.edition
        summary = SendSummary(edition=edition.key, transport=self._transport.name)
        total = self._store.count_confirmed()
        self._ledger.set_edition_status(edition.id, EditionStatus.sending, self._transport.name)
        started = time.perf_counter()
        done = 0
        for batch in self._store.iter_confirmed(self._settings.batch_size):
            settled = self._ledger.final_subscribers(edition.id, [r.id for r in batch])
            summary.already_sent += len(settled)
            messages = [self.outbound(edition.key, edition.id, r) for r in batch if r.id not in settled]
            summary.recipients += len(batch)
            if messages:
                self._ledger.mark_sending(edition.id, [(m.subscriber_id, m.message_id) for m in messages])
                results = self._transport.send(prepared.template, messages)
                self._record(edition.id, results, summary)
            done += len(batch)
            if progress is not None:
                progress(done, max(total, done))
        summary.seconds = time.perf_counter() - started
        final = EditionStatus.sent if summary.deferred == 0 else EditionStatus.paused
        self._ledger.set_edition_status(edition.id, final)
        return summary

    def send_test(self, prepared: PreparedEdition, addresses: Sequence[str]) -> list[SendResult]:
        """Send to the given addresses only, outside the ledger: a test never counts as the real delivery.

        The Message-ID gets a ``.test`` part so a receiver never mistakes the later real message for a
        duplicate of the test.
        """
        known = {r.email: r for r in self._store.recipients_by_email(addresses)}
        edition = prepared.edition
        messages = []
        for index, address in enumerate(addresses):
            recipient = known.get(address.strip().lower()) or Recipient(0, address.strip(), "")
            if recipient.id:
                message = self.outbound(edition.key + ".test", edition.id, recipient)
            else:
                message = OutboundMessage(
                    subscriber_id=0, email=recipient.email, name="",
                    message_id=message_id(edition.key + ".test", edition.id, -index - 1, self._domain),
                    envelope_from=self._settings.effective_bounce_address,
                    unsubscribe_url=self._links.unsubscribe_url("test"),
                    unsubscribe_mailto=self._links.unsubscribe_mailto("test"),
                    ref="test",
                )
            messages.append(message)
        return self._transport.send(prepared.template, messages)
