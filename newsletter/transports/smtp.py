"""SMTP: a pool of persistent smtplib connections, one per worker thread, many messages each.

``NEWSLETTER_SMTP_URL`` is ``smtp://[user:pass@]host[:port][?starttls=1]`` or ``smtps://…`` (TLS from the
first byte). Each worker owns one connection for its whole life and reconnects when the server drops it,
so a send of a million messages opens a handful of connections, not a million.

Every message gets its own envelope sender (the VERP address of its delivery), so a bounce that arrives
days later names the edition and subscriber. The server's replies become results at this boundary:
2xx accepted; 4xx temporary; 5xx to RCPT or DATA permanent (a bounce of that recipient). A refused
MAIL FROM is the sender's problem, never the recipient's, so it is temporary whatever its code: the
error threshold then pauses the send instead of suppressing the list. Failures to connect, to log in or
to start TLS concern every message alike: they raise TemporaryFailure/PermanentFailure out of the batch.

``send_iter`` keeps at most ``window`` (2 x concurrency) messages handed to the workers and yields each
result as soon as it arrives, so the send loop can write the ledger while the pool keeps sending: the
messages whose outcome the ledger cannot know after a crash are at most that window.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import re
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import parse_qs, unquote, urlsplit

from newsletter.config import Settings
from newsletter.dkim import DkimSigner
from newsletter.errors import ConfigError, PermanentFailure, TemporaryFailure, TransportError
from newsletter.message import OutboundMessage
from newsletter.personalise import MessageTemplate
from newsletter.transports.base import Outcome, SendResult

QUEUED_AS = re.compile(r"queued as ([\w.-]+)", re.IGNORECASE)
UNSAFE_ADDRESS = re.compile(r"[\s<>]|^$")
CONNECT_ATTEMPTS = 3
CONNECT_PAUSE = 0.2


@dataclasses.dataclass(frozen=True)
class SmtpUrl:
    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str = dataclasses.field(default="", repr=False)
    password: str = dataclasses.field(default="", repr=False)

    @classmethod
    def parse(cls, url: str) -> SmtpUrl:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError("smtp_url must look like smtp://user:pass@host:port (?starttls=1) or smtps://…")
        query = parse_qs(parts.query)
        starttls = query.get("starttls", ["0"])[-1].lower() in ("1", "true", "yes")
        try:
            port = parts.port or (465 if parts.scheme == "smtps" else 25)
        except ValueError:
            raise ConfigError("smtp_url has an invalid port") from None
        if parts.scheme == "smtps" and starttls:
            raise ConfigError("smtp_url: smtps:// is TLS from the start; starttls=1 applies to smtp:// only")
        return cls(
            parts.hostname,
            port,
            parts.scheme == "smtps",
            starttls,
            unquote(parts.username or ""),
            unquote(parts.password or ""),
        )

    def __str__(self) -> str:
        """For messages: never shows the password."""
        user = f"{self.username}@" if self.username else ""
        tls = "?starttls=1" if self.starttls else ""
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{user}{self.host}:{self.port}{tls}"


@dataclasses.dataclass(frozen=True)
class _Failed:
    """A worker could not try a message at all (no connection): the whole batch stops."""

    subscriber_id: int
    error: TransportError


def outcome_for(code: int) -> Outcome:
    if 200 <= code < 300:
        return Outcome.accepted
    if 500 <= code < 600:
        return Outcome.permanent
    return Outcome.temporary  # 4xx, and anything unexpected: trying again later is the safe answer


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())[:500]


class SmtpTransport:
    name = "smtp"

    def __init__(
        self,
        url: SmtpUrl | str,
        *,
        concurrency: int = 4,
        timeout: float = 30.0,
        signer: DkimSigner | None = None,
        local_hostname: str | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.url = url if isinstance(url, SmtpUrl) else SmtpUrl.parse(url)
        if concurrency < 1:
            raise ConfigError("smtp_concurrency must be at least 1")
        self.concurrency = concurrency
        self.window = 2 * concurrency
        self.timeout = timeout
        self._signer = signer
        self._local_hostname = local_hostname
        self._tls_context = tls_context or ssl.create_default_context()
        self._jobs: queue.SimpleQueue[
            tuple[MessageTemplate, OutboundMessage, queue.SimpleQueue[object]] | None
        ]
        self._jobs = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.connections_opened = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpTransport:
        return cls(
            settings.smtp_url,
            concurrency=settings.smtp_concurrency,
            timeout=settings.smtp_timeout,
            signer=DkimSigner.from_settings(settings),
        )

    # -- the batch interface ----------------------------------------------------------------------------

    def send(self, template: MessageTemplate, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        return list(self.send_iter(template, messages))

    def send_iter(
        self, template: MessageTemplate, messages: Iterable[OutboundMessage]
    ) -> Iterator[SendResult]:
        """Results in completion order, at most ``window`` messages in the workers' hands at once.

        ``messages`` is pulled lazily, so a rate-limited or stoppable generator works. When a worker cannot
        reach the server, no further message is handed out; the ones in flight finish and are yielded, then
        the TransportError is raised: every message without a result was never tried.
        """
        self._start()
        results: queue.SimpleQueue[object] = queue.SimpleQueue()
        pending = iter(messages)
        outstanding = 0
        failure: TransportError | None = None
        exhausted = False
        try:
            while True:
                while not exhausted and failure is None and outstanding < self.window:
                    message = next(pending, None)
                    if message is None:
                        exhausted = True
                        break
                    self._jobs.put((template, message, results))
                    outstanding += 1
                if outstanding == 0:
                    break
                item = results.get()
                outstanding -= 1
                if isinstance(item, SendResult):
                    yield item
                elif isinstance(item, _Failed):
                    failure = failure or item.error
        finally:
            while outstanding:  # the consumer stopped early: let the messages in flight finish first
                results.get()
                outstanding -= 1
        if failure is not None:
            raise failure

    def close(self) -> None:
        with self._lock:
            workers, self._workers = self._workers, []
        for _ in workers:
            self._jobs.put(None)
        for worker in workers:
            worker.join(timeout=self.timeout + 5)

    # -- workers --------------------------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            while len(self._workers) < self.concurrency:
                worker = threading.Thread(target=self._work, name=f"smtp-{len(self._workers)}", daemon=True)
                worker.start()
                self._workers.append(worker)

    def _work(self) -> None:
        connection: smtplib.SMTP | None = None
        while (job := self._jobs.get()) is not None:
            template, message, results = job
            try:
                result, connection = self._deliver(connection, template, message)
                results.put(result)
            except TransportError as exc:
                results.put(_Failed(message.subscriber_id, exc))
            except Exception as exc:  # a bug must surface in the caller, not kill the worker silently
                results.put(_Failed(message.subscriber_id, TransportError(f"SMTP worker error: {exc!r}")))
        if connection is not None:
            self._quit(connection)

    def _deliver(
        self, connection: smtplib.SMTP | None, template: MessageTemplate, message: OutboundMessage
    ) -> tuple[SendResult, smtplib.SMTP | None]:
        try:
            raw = template.build(message, self._signer.header if self._signer is not None else None)
        except ValueError as exc:  # e.g. an address the headers cannot carry: this recipient only
            failed = SendResult(
                message.subscriber_id, Outcome.permanent, detail=f"cannot build the message: {exc}"
            )
            return failed, connection
        for attempt in (1, 2):
            if connection is None:
                connection = self._connect()
            try:
                result = self._transaction(connection, message, raw)
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                # A dropped or stalled connection says nothing about this recipient: reconnect and try once
                # more at once. (If the drop came after the server took the data, this is the one case a
                # receiver can see the message twice; the Message-ID is the same both times.)
                self._discard(connection)
                connection = None
                if attempt == 2:
                    return SendResult(
                        message.subscriber_id,
                        Outcome.temporary,
                        detail=f"connection lost: {exc or type(exc).__name__}",
                    ), None
                continue
            if result.code == 421:  # "service not available, closing channel": do not reuse it
                self._discard(connection)
                connection = None
            return result, connection
        raise AssertionError("unreachable")

    def _transaction(self, connection: smtplib.SMTP, message: OutboundMessage, raw: bytes) -> SendResult:
        """MAIL, RCPT, DATA, pipelined (RFC 2920) when the server offers it: one round trip instead of three.

        The message is written as it is, dot-stuffed with one ``bytes.replace``: it is built with CRLF
        line ends only, so smtplib's two regular-expression passes over every message are not needed.
        """
        sid = message.subscriber_id
        options = ""
        if not (message.email.isascii() and message.envelope_from.isascii()):
            if not connection.has_extn("smtputf8"):
                detail = "the address needs SMTPUTF8, which the server does not offer"
                return SendResult(sid, Outcome.permanent, detail=detail)
            options = " SMTPUTF8"
        if UNSAFE_ADDRESS.search(message.email) or UNSAFE_ADDRESS.search(message.envelope_from):
            return SendResult(sid, Outcome.permanent, detail=f"address not usable in SMTP: {message.email!r}")
        # Addresses come validated from the store (and VERP from us): no smtplib.quoteaddr, which parses
        # each address with the email package (~100 µs, more than the rest of the transaction).
        commands = [
            f"MAIL FROM:<{message.envelope_from}>{options}\r\n".encode(),
            f"RCPT TO:<{message.email}>\r\n".encode(),
            b"DATA\r\n",
        ]
        replies: list[tuple[int, bytes]] = []
        if connection.has_extn("pipelining"):
            connection.send(b"".join(commands))
            replies = [connection.getreply() for _ in commands]
        else:
            for command, ok in zip(commands, ((250,), (250, 251), (354,)), strict=True):
                connection.send(command)
                replies.append(connection.getreply())
                if replies[-1][0] not in ok:
                    break
        (mail_code, mail_reply), rest = replies[0], replies[1:]
        rcpt_code, rcpt_reply = rest[0] if rest else (0, b"")
        data_code, data_reply = rest[1] if len(rest) > 1 else (0, b"")
        if (mail_code, data_code) != (250, 354) or rcpt_code not in (250, 251):
            if data_code == 354:  # a server that said go ahead regardless: end an empty message
                connection.send(b".\r\n")
                connection.getreply()
            self._reset(connection)
            if mail_code != 250:  # the sender's problem, never the recipient's
                detail = f"MAIL FROM refused: {mail_code} {_text(mail_reply)}"
                return SendResult(sid, Outcome.temporary, detail=detail, code=mail_code)
            code, reply = (rcpt_code, rcpt_reply) if rcpt_code not in (250, 251) else (data_code, data_reply)
            return SendResult(sid, outcome_for(code), detail=f"{code} {_text(reply)}", code=code)
        stuffed = raw.replace(b"\r\n.", b"\r\n..")
        if stuffed.startswith(b"."):
            stuffed = b"." + stuffed
        connection.send(stuffed + (b"" if stuffed.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        code, reply = connection.getreply()
        if code != 250:
            return SendResult(sid, outcome_for(code), detail=f"{code} {_text(reply)}", code=code)
        text = _text(reply)
        match = QUEUED_AS.search(text)
        return SendResult(
            sid, Outcome.accepted, provider_id=match.group(1) if match else text[:255], code=code
        )

    def _connect(self) -> smtplib.SMTP:
        last: TransportError | None = None
        for attempt in range(CONNECT_ATTEMPTS):
            if attempt:
                time.sleep(CONNECT_PAUSE * attempt)
            try:
                return self._open()
            except PermanentFailure:
                raise
            except TemporaryFailure as exc:
                last = exc
        assert last is not None
        raise last

    def _open(self) -> smtplib.SMTP:
        where = str(self.url)
        connection: smtplib.SMTP | None = None
        try:
            if self.url.implicit_tls:
                connection = smtplib.SMTP_SSL(
                    self.url.host,
                    self.url.port,
                    local_hostname=self._local_hostname,
                    timeout=self.timeout,
                    context=self._tls_context,
                )
            else:
                connection = smtplib.SMTP(
                    self.url.host, self.url.port, local_hostname=self._local_hostname, timeout=self.timeout
                )
            connection.ehlo()
            if self.url.starttls:
                connection.starttls(context=self._tls_context)
                connection.ehlo()
            if self.url.username:
                connection.login(self.url.username, self.url.password)
        except smtplib.SMTPAuthenticationError as exc:
            self._discard(connection)
            raise PermanentFailure(
                f"the SMTP server {where} refused the login: {exc.smtp_code} {_text(exc.smtp_error)}",
                code=exc.smtp_code,
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            self._discard(connection)
            raise PermanentFailure(
                f"the SMTP server {where} does not support what smtp_url asks: {exc}"
            ) from None
        except ssl.SSLError as exc:
            self._discard(connection)
            raise PermanentFailure(f"TLS with {where} failed: {exc.reason or exc}") from None
        except smtplib.SMTPResponseException as exc:
            self._discard(connection)
            error = TemporaryFailure if exc.smtp_code < 500 else PermanentFailure
            raise error(
                f"the SMTP server {where} answered {exc.smtp_code} {_text(exc.smtp_error)}",
                code=exc.smtp_code,
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            self._discard(connection)
            reason = (
                exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
            )
            raise TemporaryFailure(f"cannot reach the SMTP server {where}: {reason}") from None
        with self._lock:
            self.connections_opened += 1
        return connection

    @staticmethod
    def _reset(connection: smtplib.SMTP) -> None:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            connection.rset()  # if this fails, the next command finds out whether the connection is good

    @staticmethod
    def _quit(connection: smtplib.SMTP) -> None:
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            SmtpTransport._discard(connection)

    @staticmethod
    def _discard(connection: smtplib.SMTP | None) -> None:
        if connection is None:
            return
        with contextlib.suppress(OSError, socket.error):
            connection.close()
