"""Double opt-in: a signup request, the confirmation email, the click that confirms, and leaving again.

The web app calls this module and knows nothing of the store's states: every request gets the same
answer, whatever the address's history, so the form cannot be used to find out who is on the list.
The answer does not take longer for one state than another either: ``request`` only records the
attempt (one insert, the same for every address) and ``complete`` applies it after the response.
What differs happens there, out of sight: a new, pending or suppressed address gets a link (subject
to the per-address limit, so nobody can flood an inbox through the form), a confirmed one gets
nothing.

Mail is built after answering, so a slow SMTP server never slows the page, and the time a response
takes does not tell whether a message was sent. A transport failure is logged, never shown: the
visitor can ask for a new link. Attempts a crash left unapplied are applied by ``apply_waiting``
when the web app starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import logging
import threading
from collections.abc import Callable
from typing import Protocol

from newsletter.config import Settings
from newsletter.delivery.links import Links
from newsletter.delivery.transports.base import Outcome, SendResult, Transport
from newsletter.errors import NewsletterError
from newsletter.readers.transactional import TransactionalMail
from subscribers.errors import StoreError, TokenExpired, TransitionRefused, UnknownSubscriber
from subscribers.models import Status
from subscribers.signups import SignupQueue
from subscribers.store import Consent, SubscriberStore
from subscribers.tokens import Purpose
from subscribers.validation import clean_name, email_hash, normalise_email

log = logging.getLogger("newsletter.readers.signup")


class Limiter(Protocol):
    def hit(self, key: str) -> float:
        """0.0 when allowed (and counted), else the seconds to wait."""
        ...


class MailKind(enum.StrEnum):
    confirm = "confirm"
    welcome = "welcome"


@dataclasses.dataclass(frozen=True, slots=True)
class PendingMail:
    """A message decided on but not yet sent."""

    kind: MailKind
    subscriber_id: int
    email: str
    name: str


class ConfirmOutcome(enum.Enum):
    confirmed = "confirmed"  # just now
    already = "already"  # a second click: harmless, same thank-you page
    refused = "refused"  # no longer pending (unsubscribed since, or gone): sign up again


@dataclasses.dataclass(frozen=True, slots=True)
class ConfirmResult:
    outcome: ConfirmOutcome
    mail: PendingMail | None = None


class SignupFlow:
    """The signup, confirm and unsubscribe operations over one store, one mailer and one transport."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: SubscriberStore,
        signups: SignupQueue,
        links: Links,
        mail: TransactionalMail,
        transport_factory: Callable[[], Transport],
        address_limiter: Limiter | None = None,
    ) -> None:
        # SQLite has one writer at a time, and connections that find it busy wait in SQLite's busy
        # handler, which sleeps in steps of up to 100 ms: under a burst of signups the slowest ones
        # waited seconds. Queueing this process's writers on a lock hands the database over at once.
        sqlite = settings.database_url.startswith("sqlite")
        self._writing: contextlib.AbstractContextManager[object] = (
            threading.Lock() if sqlite else contextlib.nullcontext()
        )
        self._settings = settings
        self._store = store
        self._signups = signups
        self._links = links
        self._mail = mail
        self._transport_factory = transport_factory
        self._address_limiter = address_limiter

    def _may_mail(self, address: str) -> bool:
        if self._address_limiter is None:
            return True
        wait = self._address_limiter.hit(email_hash(address))
        if wait:
            log.info("confirmation to a rate-limited address not sent (retry in %.0f s)", wait)
        return not wait

    def request(self, email: str, name: str | None, consent: Consent) -> int:
        """Record a signup request; the attempt id to ``complete`` after answering.

        InvalidAddress for a bad address. The same work for every address, listed or not.
        """
        address = normalise_email(email)
        with self._writing:
            return self._signups.record(address, clean_name(name), consent)

    def apply(self, attempt_id: int) -> PendingMail | None:
        """Apply a recorded request to the list; the confirmation to send, if any."""
        with self._writing:
            applied = self._signups.apply(attempt_id)
        if applied is None or not applied.request.send_confirmation or not self._may_mail(applied.email):
            return None
        return PendingMail(MailKind.confirm, applied.request.subscriber_id, applied.email, applied.name)

    def complete(self, attempt_id: int) -> None:
        """Apply a request and send its confirmation: the part of a signup that follows the answer."""
        try:
            mail = self.apply(attempt_id)
        except StoreError as exc:
            log.warning("signup request %s kept for the next start: %s", attempt_id, exc)
            return
        if mail is not None:
            self.deliver(mail)

    def apply_waiting(self) -> int:
        """Complete the requests recorded but never applied (a crash between answer and apply)."""
        done = 0
        while waiting := self._signups.waiting():
            for attempt_id in waiting:
                self.complete(attempt_id)
                done += 1
        if done:
            log.info("applied %d signup request(s) left from before the last start", done)
        return done

    def confirm(self, token: str, consent: Consent) -> ConfirmResult:
        """Confirm the subscriber the token names. InvalidToken / TokenExpired for a bad or old link."""
        subscriber_id = self._links.signer.verify(Purpose.confirm, token)
        try:
            with self._writing:
                changed = self._store.confirm_request(subscriber_id, consent)
        except (TransitionRefused, UnknownSubscriber):
            return ConfirmResult(ConfirmOutcome.refused)
        if not changed:
            return ConfirmResult(ConfirmOutcome.already)
        mail = None
        if self._settings.welcome_email:
            subscriber = self._store.get(subscriber_id)
            mail = PendingMail(MailKind.welcome, subscriber.id, subscriber.email, subscriber.name)
        return ConfirmResult(ConfirmOutcome.confirmed, mail)

    def resend(self, token: str) -> PendingMail | None:
        """A fresh confirmation for the holder of a (possibly expired) confirm link, if still pending.

        An expired token still proves the holder received our email; a forged one raises InvalidToken.
        """
        try:
            subscriber_id = self._links.signer.verify(Purpose.confirm, token)
        except TokenExpired as exc:
            subscriber_id = exc.subscriber_id
        try:
            subscriber = self._store.get(subscriber_id)
        except UnknownSubscriber:
            return None
        if subscriber.status is not Status.pending or not self._may_mail(subscriber.email):
            return None
        return PendingMail(MailKind.confirm, subscriber.id, subscriber.email, subscriber.name)

    def confirmer(self, token: str) -> int:
        """The subscriber id a confirm token names; InvalidToken / TokenExpired for a bad or old link."""
        return self._links.signer.verify(Purpose.confirm, token)

    def unsubscriber(self, token: str) -> int:
        """The subscriber id an unsubscribe token names; InvalidToken when forged or tampered."""
        return self._links.signer.verify(Purpose.unsubscribe, token)

    def address_for(self, subscriber_id: int) -> str | None:
        try:
            return self._store.get(subscriber_id).email
        except UnknownSubscriber:
            return None

    def unsubscribe(self, token: str, consent: Consent) -> bool:
        """Unsubscribe at once; False when already unsubscribed or no longer on the list."""
        subscriber_id = self.unsubscriber(token)
        try:
            with self._writing:
                return self._store.unsubscribe(subscriber_id, consent)
        except UnknownSubscriber:
            return False

    def deliver(self, mail: PendingMail) -> SendResult | None:
        """Send one decided message now; failures are logged (the visitor already has their page)."""
        if mail.kind is MailKind.confirm:
            template, message = self._mail.confirmation(mail.subscriber_id, mail.email, mail.name)
        else:
            template, message = self._mail.welcome(mail.subscriber_id, mail.email, mail.name)
        try:
            transport = self._transport_factory()
        except NewsletterError as exc:
            log.error("cannot open the transport for a %s email: %s", mail.kind, exc)
            return None
        try:
            results = transport.send(template, [message])
        except NewsletterError as exc:
            log.warning("%s email to subscriber %s not sent: %s", mail.kind, mail.subscriber_id, exc)
            return None
        finally:
            transport.close()
        for result in results:
            if result.outcome is not Outcome.accepted:
                log.warning(
                    "%s email to subscriber %s refused: %s %s",
                    mail.kind,
                    mail.subscriber_id,
                    result.code or "",
                    result.detail,
                )
        return results[0] if results else None
