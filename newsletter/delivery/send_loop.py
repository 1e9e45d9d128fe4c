"""The send loop: stream confirmed subscribers by id, hand them to the transport, keep the ledger true.

Main pass: read the next confirmed subscribers after the last id handled, each with their delivery row
(keyset pagination, one query, so memory is flat in list size); skip those the ledger settled
(accepted, bounced, failed) or deferred to a later time; mark the rest ``sending`` (one transaction);
feed them to the transport through the rate limiter; write results *as they arrive*, in small groups,
not at the end of the batch. Retry pass: deliveries
deferred by a temporary failure are sent again when due (exponential backoff with jitter, the server's
Retry-After as a floor) until they are accepted, bounce, or run out of retries (``failed``).

What a kill -9 can leave behind, and why nobody is skipped or mailed twice beyond that: rows are
``sending`` from just before the hand-over until their result is written. A resumed send sends every
non-final row again with the same Message-ID. Only messages the server took but whose result was not yet
written can reach a recipient twice: at most the transport's window (``2 x smtp_concurrency`` messages
for SMTP, ``sendgrid_concurrency`` requests for SendGrid) plus one unwritten result group (as large as the
window for SMTP, one request for SendGrid). docs/delivery.md states the guarantee.

The loop stops between messages when the edition is paused or cancelled (``newsletter pause`` /
``cancel``, checked at most once a second), when too many recent results failed (the error threshold),
when the ``ResultWatch`` it was given says receivers are refusing us (feedback's ``RefusalWatch``: the
edition is paused with its words), or when the transport cannot work at all (bad credentials, a full
disk, a server unreachable after retries): then the edition is paused and the TransportError is raised
for the command to report.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from newsletter.config import Settings
from newsletter.delivery.flow import Backoff, ErrorThreshold, TokenBucket
from newsletter.delivery.ledger import WHOLE_LIST, LedgerResult, PendingBatch, Shard
from newsletter.delivery.ledger_tables import DeliveryStatus
from newsletter.delivery.links import Links
from newsletter.delivery.message import OutboundMessage, message_id
from newsletter.delivery.personalise import MessageTemplate
from newsletter.delivery.prepare import PreparedEdition
from newsletter.delivery.send_run import SendRun, SendSummary, StopReason
from newsletter.delivery.transports.base import Outcome, SendResult, Transport
from newsletter.edition.stored import Edition, EditionStatus
from newsletter.errors import SendRefused, TemporaryFailure, TransportError
from subscribers.models import utcnow
from subscribers.store import Recipient

ProgressCallback = Callable[[int, int], None]
PermanentCallback = Callable[[int, SendResult], None]
"""Called with (edition id, result) for each permanent refusal, after the ledger recorded the bounce."""


class ResultWatch(Protocol):
    """Sees every result with its recipient's address; says when the send must stop (the loop pauses)."""

    def observe(self, recipient: str, result: SendResult) -> str:
        """The reason to stop now, in words for the editor, or ""."""
        ...


FLUSH_SECONDS = 0.25
CONTROL_SECONDS = 1.0
MAX_WAIT_SLICE = 1.0


class SendLedger(Protocol):
    """What the send loop needs of the delivery ledger (``ledger.Ledger`` is the one implementation)."""

    def edition_status(self, edition_id: int) -> EditionStatus | None: ...

    def transition_edition(
        self,
        edition_id: int,
        allowed: Iterable[EditionStatus],
        to: EditionStatus,
        transport: str | None = None,
    ) -> bool: ...

    def holding_connection(self) -> contextlib.AbstractContextManager[None]: ...

    def pending_batch(
        self, edition_id: int, after_id: int, limit: int, now: dt.datetime, shard: Shard = WHOLE_LIST
    ) -> PendingBatch: ...

    def begin_attempts(
        self, edition_id: int, rows: Iterable[tuple[int, str]], known: Mapping[int, int] | None = None
    ) -> dict[int, int]: ...

    def record(self, edition_id: int, results: Sequence[LedgerResult]) -> None: ...

    def release(self, edition_id: int, subscriber_ids: Sequence[int], error: str) -> None: ...

    def due_retries(
        self, edition_id: int, now: dt.datetime, limit: int, after_id: int = 0, shard: Shard = WHOLE_LIST
    ) -> list[tuple[int, str, str]]: ...

    def next_retry_at(self, edition_id: int, shard: Shard = WHOLE_LIST) -> dt.datetime | None: ...

    def counts(self, edition_id: int) -> dict[str, int]: ...


class SendStore(Protocol):
    """What the send loop needs of the subscriber store: the list's size, and test recipients by address."""

    def count_confirmed(self, after_id: int = 0) -> int: ...

    def recipients_by_email(self, emails: Iterable[str]) -> list[Recipient]: ...


def outbound_message(
    links: Links, domain: str, edition_key: str, edition_id: int, recipient: Recipient
) -> OutboundMessage:
    """Everything one recipient's copy of an edition needs: tokens, VERP sender, deterministic Message-ID."""
    sid = recipient.id
    token = links.unsubscribe_token(sid)
    ref = links.delivery_ref(edition_id, sid)
    return OutboundMessage(  # positional: this runs once per recipient of every send
        sid,
        recipient.email,
        recipient.name,
        message_id(edition_key, edition_id, sid, domain),
        links.verp_for_ref(ref),
        links.unsubscribe_url(token),
        links.unsubscribe_mailto(token),
        ref,
    )


SENDABLE = (EditionStatus.draft, EditionStatus.sending, EditionStatus.paused, EditionStatus.sent)
"""States a send may start (or resume) from: all but cancelled."""


def claim_edition(ledger: SendLedger, edition: Edition, transport_name: str) -> None:
    """Mark the edition ``sending`` (one compare-and-set), or refuse it: a cancelled edition stays so."""
    if not ledger.transition_edition(edition.id, SENDABLE, EditionStatus.sending, transport_name):
        raise SendRefused(f"edition {edition.key} was cancelled; it cannot be sent or resumed")


def report_ledger_state(ledger: SendLedger, edition_id: int, summary: SendSummary) -> None:
    """What the ledger says once a send ends: deliveries still to go again, and the edition's status."""
    counts = ledger.counts(edition_id)
    summary.deferred = counts[DeliveryStatus.deferred] + counts[DeliveryStatus.sending]
    summary.status = str(ledger.edition_status(edition_id) or "")


class Sender:
    """One send of one edition through one transport. Settings, store and transport come from outside."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: SendStore,
        ledger: SendLedger,
        transport: Transport,
        links: Links,
        on_permanent: PermanentCallback | None = None,
        watch: ResultWatch | None = None,
        sleep: Callable[[float], None] = time.sleep,
        shard: Shard = WHOLE_LIST,
    ) -> None:
        self._settings = settings
        self._store = store
        self._ledger = ledger
        self._transport = transport
        self._links = links
        self._on_permanent = on_permanent
        self._watch = watch
        self._sleep = sleep
        self._domain = settings.from_domain
        self._bucket = TokenBucket(settings.send_rate, sleep=sleep)
        self._backoff = Backoff(settings.retry_delay, settings.retry_max_delay)
        self._threshold = ErrorThreshold(settings.error_threshold, settings.error_window)
        self._flush_every = max(1, transport.window)
        self._read_size = max(settings.batch_size, transport.batch_hint)  # SendGrid: parallel requests
        self._shard = shard
        self._run = SendRun()

    def outbound(self, edition_key: str, edition_id: int, recipient: Recipient) -> OutboundMessage:
        return outbound_message(self._links, self._domain, edition_key, edition_id, recipient)

    # -- the send -------------------------------------------------------------------------------------

    def send(
        self, prepared: PreparedEdition, progress: ProgressCallback | None = None, *, finish: bool = True
    ) -> SendSummary:
        """Send (or resume) the edition until every delivery is final, or the send is stopped.

        ``finish=False`` (one of several processes, each sending its shard): the edition is not marked
        sent at the end, since the other shards may still be going; it is still paused when this one stops.
        """
        edition = prepared.edition
        claim_edition(self._ledger, edition, self._transport.name)
        self._run = SendRun()
        with self._ledger.holding_connection():
            return self._send(prepared, progress, finish)

    def _send(
        self, prepared: PreparedEdition, progress: ProgressCallback | None, finish: bool
    ) -> SendSummary:
        edition = prepared.edition
        summary = SendSummary(edition=edition.key, transport=self._transport.name)
        total = self._store.count_confirmed()
        started = time.perf_counter()
        done = after = 0
        while not self._stopped(edition.id):
            batch = self._ledger.pending_batch(edition.id, after, self._read_size, utcnow(), self._shard)
            if not batch.read:
                break
            after = batch.last_id
            summary.already_sent += batch.settled
            summary.recipients += batch.read
            self._deliver(prepared, batch.to_send, summary, batch.attempts)
            done += batch.read
            if progress is not None:
                progress(done, max(total, done))
        if self._run.stop is None:
            self._retry_pass(prepared, summary)
        summary.seconds = time.perf_counter() - started
        self._finish(edition.id, summary, finish)
        return summary

    def _retry_pass(self, prepared: PreparedEdition, summary: SendSummary) -> None:
        edition_id = prepared.edition.id
        while not self._stopped(edition_id):
            after = 0
            now = utcnow()
            while rows := self._ledger.due_retries(edition_id, now, self._read_size, after, self._shard):
                after = rows[-1][0]
                self._deliver(prepared, [Recipient(*row) for row in rows], summary)
                if self._stopped(edition_id):
                    return
            next_at = self._ledger.next_retry_at(edition_id, self._shard)
            if next_at is None:
                return
            self._wait_until(edition_id, next_at)

    def _wait_until(self, edition_id: int, when: dt.datetime) -> None:
        """Sleep until a deferral is due, in short slices so pause/cancel still take effect."""
        while not self._stopped(edition_id, force=False):
            left = (when - utcnow()).total_seconds()
            if left <= 0:
                return
            self._sleep(min(left, MAX_WAIT_SLICE))

    def _finish(self, edition_id: int, summary: SendSummary, finish: bool = True) -> None:
        stop = self._run.stop
        if stop is None:
            if finish:
                self._ledger.transition_edition(edition_id, (EditionStatus.sending,), EditionStatus.sent)
        elif stop.reason.resumable:
            self._ledger.transition_edition(edition_id, (EditionStatus.sending,), EditionStatus.paused)
        summary.stop = stop
        report_ledger_state(self._ledger, edition_id, summary)

    # -- control --------------------------------------------------------------------------------------

    def _stopped(self, edition_id: int, *, force: bool = True) -> bool:
        """True once the send must stop; reads the edition's status at most once a second unless forced."""
        run = self._run
        if run.stop is not None:
            return True
        now = time.monotonic()
        if not force and now - run.checked < CONTROL_SECONDS:
            return False
        run.checked = now
        status = self._ledger.edition_status(edition_id)
        if status is EditionStatus.paused:
            run.halt(StopReason.paused)
        elif status is EditionStatus.cancelled:
            run.halt(StopReason.cancelled)
        return run.stop is not None

    def _feed(self, edition_id: int, messages: Sequence[OutboundMessage]) -> Iterator[OutboundMessage]:
        for message in messages:
            if self._stopped(edition_id, force=False):
                return
            self._bucket.acquire()
            yield message

    # -- one group of recipients ----------------------------------------------------------------------

    def _deliver(
        self,
        prepared: PreparedEdition,
        recipients: Sequence[Recipient],
        summary: SendSummary,
        known: dict[int, int] | None = None,
    ) -> None:
        """Send to these recipients; ``known``: the attempts of those with a delivery row, if just read."""
        edition = prepared.edition
        key, edition_id, links, domain = edition.key, edition.id, self._links, self._domain
        remaining = [outbound_message(links, domain, key, edition_id, r) for r in recipients]
        failures = 0
        while remaining and self._run.stop is None:
            attempts = self._ledger.begin_attempts(
                edition.id, [(m.subscriber_id, m.message_id) for m in remaining], known
            )
            known = None  # after a failed round the rows changed: read them again
            answered: set[int] = set()
            error: TransportError | None = None
            try:
                self._stream(prepared.template, remaining, attempts, answered, summary, edition.id)
            except TransportError as exc:
                error = exc
            unanswered = [m for m in remaining if m.subscriber_id not in answered]
            self._ledger.release(
                edition.id,
                [m.subscriber_id for m in unanswered],
                str(error) if error else "not tried: the send stopped",
            )
            if error is None:
                return
            failures += 1
            if not isinstance(error, TemporaryFailure) or failures > self._settings.max_retries:
                # Nothing more can be sent now: pause (a resume picks up every unsent row) and say why.
                self._run.halt(StopReason.transport, f"{self._transport.name}: {error}")
                self._ledger.transition_edition(edition.id, (EditionStatus.sending,), EditionStatus.paused)
                raise error
            self._wait_until(
                edition.id, utcnow() + dt.timedelta(seconds=self._backoff.delay(failures, error.retry_after))
            )
            remaining = unanswered

    def _stream(
        self,
        template: MessageTemplate,
        messages: Sequence[OutboundMessage],
        attempts: dict[int, int],
        answered: set[int],
        summary: SendSummary,
        edition_id: int,
    ) -> None:
        """Hand the messages over and write each result within ``FLUSH_SECONDS`` or ``_flush_every``."""
        pending: list[tuple[SendResult, LedgerResult]] = []
        flushed = time.monotonic()
        watch, run = self._watch, self._run
        emails = {m.subscriber_id: m.email for m in messages} if watch is not None else {}
        try:
            for result in self._transport.send_iter(template, self._feed(edition_id, messages)):
                answered.add(result.subscriber_id)
                pending.append((result, self._ledger_result(result, attempts.get(result.subscriber_id, 1))))
                tripped = self._threshold.observe(result.outcome is Outcome.accepted, result.detail)
                if tripped and run.stop is None:
                    run.halt(StopReason.threshold, self._threshold.reason)
                if watch is not None:
                    refused = watch.observe(emails.get(result.subscriber_id, ""), result)
                    if refused and run.stop is None:
                        run.halt(StopReason.refused, refused)
                if len(pending) >= self._flush_every or time.monotonic() - flushed >= FLUSH_SECONDS:
                    self._flush(edition_id, pending, summary)
                    pending = []
                    flushed = time.monotonic()
        finally:
            self._flush(edition_id, pending, summary)

    def _ledger_result(self, result: SendResult, attempt: int) -> LedgerResult:
        sid = result.subscriber_id
        if result.outcome is Outcome.accepted:
            return LedgerResult(sid, DeliveryStatus.accepted, result.provider_id)
        if result.outcome is Outcome.permanent:
            return LedgerResult(sid, DeliveryStatus.bounced, result.provider_id, result.detail)
        if attempt > self._settings.max_retries:
            return LedgerResult(
                sid,
                DeliveryStatus.failed,
                result.provider_id,
                f"gave up after {attempt} attempts; last error: {result.detail}",
            )
        wait = self._backoff.delay(attempt, result.retry_after)
        return LedgerResult(
            sid,
            DeliveryStatus.deferred,
            result.provider_id,
            result.detail,
            utcnow() + dt.timedelta(seconds=wait),
        )

    def _flush(
        self, edition_id: int, pending: list[tuple[SendResult, LedgerResult]], summary: SendSummary
    ) -> None:
        if not pending:
            return
        self._ledger.record(edition_id, [row for _, row in pending])
        for _result, row in pending:
            if row.status is DeliveryStatus.accepted:
                summary.accepted += 1
            elif row.status is DeliveryStatus.bounced:
                summary.bounced += 1
            elif row.status is DeliveryStatus.failed:
                summary.failed += 1
            else:
                summary.retried += 1
        if self._on_permanent is not None:
            for result, row in pending:
                if row.status is DeliveryStatus.bounced:
                    self._on_permanent(edition_id, result)

    def close(self) -> None:
        """Close the transport (SMTP connections say QUIT, SendGrid's request threads end)."""
        self._transport.close()

    # -- test sends -----------------------------------------------------------------------------------

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
                    subscriber_id=-index - 1,
                    email=recipient.email,
                    name="",
                    message_id=message_id(edition.key + ".test", edition.id, -index - 1, self._domain),
                    envelope_from=self._settings.effective_bounce_address,
                    unsubscribe_url=self._links.unsubscribe_url("test"),
                    unsubscribe_mailto=self._links.unsubscribe_mailto("test"),
                    ref="test",
                )
            messages.append(message)
        by_id = {r.subscriber_id: r for r in self._transport.send(prepared.template, messages)}
        return [by_id[m.subscriber_id] for m in messages]
