"""SMTP: a few persistent connections, driven from one thread, with each message one round trip.

``NEWSLETTER_SMTP_URL`` is ``smtp://[user:pass@]host[:port][?starttls=1]`` or ``smtps://…`` (TLS from the
first byte). Up to ``concurrency`` connections are opened (smtplib does the greeting, TLS and login) and
then driven with non-blocking sockets and a selector, from the thread that calls ``send_iter``: no worker
threads, so nothing waits for the GIL and results reach the send loop without a hand-off.

When the server offers PIPELINING (RFC 2920), a message's MAIL, RCPT and DATA go in one write, and its
content goes in the next write together with the *next* message's MAIL, RCPT and DATA ("the actual
transfer of message content is explicitly allowed to be the first command in a group"): one round trip
per message, as a raw socket would do it. Without PIPELINING every command waits for its reply.

Every message gets its own envelope sender (the VERP address of its delivery), so a bounce that arrives
days later names the edition and subscriber. The server's replies become results: 2xx accepted; 4xx
temporary; 5xx to RCPT or DATA permanent (a bounce of that recipient). A refused MAIL FROM is the
sender's problem, never the recipient's, so it is temporary whatever its code: the error threshold then
pauses the send instead of suppressing the list. A connection that drops, stalls for ``timeout`` seconds,
says 421 or speaks garbage is closed; its messages go again at once on another (a message the server
may have taken before the drop is the one case a receiver can see twice, with the same Message-ID), and
a message lost with two connections is a temporary failure. Failures to connect, to log in or to start
TLS concern every message alike: the messages in flight finish, then TemporaryFailure/PermanentFailure
is raised and every message without a result was never tried.

A connection carries at most two messages (one whose content is on its way, one whose commands follow
it), so at most ``window`` = 2 x concurrency messages are in the server's hands without a result: the
messages whose outcome the ledger cannot know after a crash.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import enum
import re
import selectors
import smtplib
import ssl
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from newsletter.config import Settings
from newsletter.delivery.message import OutboundMessage
from newsletter.delivery.personalise import MessageTemplate
from newsletter.delivery.transports.base import Outcome, SendResult, Transport
from newsletter.delivery.transports.smtp_connect import Opener, SmtpUrl, discard
from newsletter.delivery.transports.smtp_wire import (
    ProtocolError,
    Reply,
    ReplyParser,
    envelope,
    usable,
)
from newsletter.errors import ConfigError, TransportError

if TYPE_CHECKING:  # dkimpy and cryptography are imported only when a DKIM key is configured
    from newsletter.delivery.dkim import DkimSigner

__all__ = ["SmtpTransport", "SmtpUrl", "outcome_for"]

QUEUED_AS = re.compile(rb"queued as ([\w.-]+)", re.IGNORECASE)
READ_SIZE = 256 * 1024
QUIT_WAIT = 5.0
TRIES_PER_MESSAGE = 2  # connections a message may be lost with before it is a temporary failure


def outcome_for(code: int) -> Outcome:
    if 200 <= code < 300:
        return Outcome.accepted
    if 500 <= code < 600:
        return Outcome.permanent
    return Outcome.temporary  # 4xx, and anything unexpected: trying again later is the safe answer


class Stage(enum.Enum):
    """Which reply a connection waits for next, in the order the commands were written."""

    mail = "MAIL"
    rcpt = "RCPT"
    data = "DATA"
    content = "end of data"
    abort = "empty message"  # a server said 354 after refusing the recipient: the transaction is ended
    rset = "RSET"
    quit = "QUIT"


@dataclasses.dataclass(slots=True)
class Job:
    """One message on its way: its bytes, and what the server has answered so far."""

    message: OutboundMessage
    data: bytes  # dot-stuffed, with the final CRLF . CRLF
    smtputf8: bool
    lost: int = 0  # connections it was in flight on when they failed
    mail: Reply | None = None
    rcpt: Reply | None = None
    sent_content: bool = False


class Channel:
    """One open connection in non-blocking mode: bytes to write, replies awaited, messages carried."""

    def __init__(self, connection: smtplib.SMTP, timeout: float) -> None:
        if connection.sock is None:
            raise OSError("the connection is closed")
        self.connection = connection
        self.sock = connection.sock
        self.sock.setblocking(False)
        self.pipelining = connection.has_extn("pipelining")
        self.smtputf8 = connection.has_extn("smtputf8")
        self.tls = isinstance(self.sock, ssl.SSLSocket)
        self.parser = ReplyParser()
        self.out = bytearray()
        self.awaiting: collections.deque[tuple[Job | None, Stage]] = collections.deque()
        self.jobs: list[Job] = []
        self.timeout = timeout
        self.deadline = 0.0
        self.writing = False  # registered for EVENT_WRITE

    def can_take(self) -> bool:
        """A new message may start here: idle, or (pipelining) the message before has its content out."""
        if not self.jobs:
            return not self.awaiting or self.pipelining
        return self.pipelining and len(self.jobs) == 1 and self.jobs[0].sent_content

    def expect(self, job: Job | None, *stages: Stage) -> None:
        if not self.awaiting:
            self.deadline = time.monotonic() + self.timeout
        for stage in stages:
            self.awaiting.append((job, stage))


class Run:
    """One ``send_iter`` call: where messages come from, what is waiting to go again, what is ready."""

    def __init__(self, template: MessageTemplate, messages: Iterator[OutboundMessage]) -> None:
        self.template = template
        self.messages = messages
        self.again: collections.deque[Job] = collections.deque()  # lost with a connection: next out
        self.results: list[SendResult] = []
        self.failure: TransportError | None = None
        self.exhausted = False


class SmtpTransport(Transport):
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
        if tls_context is None and (self.url.implicit_tls or self.url.starttls):
            tls_context = ssl.create_default_context()  # loading the CA store costs: only when TLS is used
        self._opener = Opener(self.url, timeout, tls_context, local_hostname)
        self._selector = selectors.DefaultSelector()
        self._channels: list[Channel] = []
        self.connections_opened = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpTransport:
        signer = None
        if settings.dkim_key_path:
            from newsletter.delivery.dkim import DkimSigner

            signer = DkimSigner.from_settings(settings)
        return cls(
            settings.smtp_url,
            concurrency=settings.smtp_concurrency,
            timeout=settings.smtp_timeout,
            signer=signer,
        )

    # -- the batch interface ----------------------------------------------------------------------------

    def send(self, template: MessageTemplate, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        return list(self.send_iter(template, messages))

    def send_iter(
        self, template: MessageTemplate, messages: Iterable[OutboundMessage]
    ) -> Iterator[SendResult]:
        """Results in completion order, at most ``window`` messages in the server's hands at once.

        ``messages`` is pulled only when a connection can take one, so a rate-limited or stoppable
        generator works. When no connection can be opened, no further message is started; the ones in
        flight finish and are yielded, then the TransportError is raised.
        """
        run = Run(template, iter(messages))
        try:
            while True:
                if run.failure is None:
                    self._assign(run)
                self._write_all()
                if run.results:
                    ready, run.results = run.results, []
                    yield from ready
                    continue
                if not any(channel.awaiting for channel in self._channels):
                    # Nothing in flight, so every connection was free to take a message: none was left
                    # (or none can be sent, after a failure to connect).
                    break
                self._poll(run)
        finally:
            while any(channel.jobs for channel in self._channels):  # the consumer stopped early
                self._write_all()
                self._poll(run)
        if run.failure is not None:
            raise run.failure

    def close(self) -> None:
        """Say QUIT on every connection (waiting a few seconds at most for the replies), then close."""
        for channel in self._channels:
            if not channel.jobs:
                channel.out += b"QUIT\r\n"
                channel.expect(None, Stage.quit)
        until = time.monotonic() + min(self.timeout, QUIT_WAIT)
        while self._channels and time.monotonic() < until:
            self._write_all()
            self._poll(None, until)
        for channel in list(self._channels):
            self._drop(channel)

    # -- handing out messages ---------------------------------------------------------------------------

    def _assign(self, run: Run) -> None:
        """Start messages on every connection that can take one, opening connections up to concurrency."""
        while True:
            channel = self._free_channel()
            if channel is None and len(self._channels) >= self.concurrency:
                return
            job = self._next_job(run)
            if job is None:
                return
            if channel is None:
                try:
                    channel = self._open()
                except TransportError as exc:
                    run.failure = exc
                    run.again.appendleft(job)
                    return
            self._start(channel, job, run)

    def _free_channel(self) -> Channel | None:
        """An idle connection if there is one, else one that can pipeline a second message."""
        found = None
        for channel in self._channels:
            if channel.can_take():
                if not channel.jobs:
                    return channel
                found = found or channel
        return found

    def _next_job(self, run: Run) -> Job | None:
        if run.again:
            return run.again.popleft()
        while not run.exhausted:
            message = next(run.messages, None)
            if message is None:
                run.exhausted = True
                return None
            sid = message.subscriber_id
            if not (usable(message.email) and usable(message.envelope_from)):
                detail = f"address not usable in SMTP: {message.email!r}"
                run.results.append(SendResult(sid, Outcome.permanent, detail=detail))
                continue
            try:
                data = run.template.build_data(message, self._signer.header if self._signer else None)
            except ValueError as exc:  # e.g. an address the headers cannot carry: this recipient only
                detail = f"cannot build the message: {exc}"
                run.results.append(SendResult(sid, Outcome.permanent, detail=detail))
                continue
            smtputf8 = not (message.email.isascii() and message.envelope_from.isascii())
            return Job(message, data, smtputf8)
        return None

    def _start(self, channel: Channel, job: Job, run: Run) -> None:
        if job.smtputf8 and not channel.smtputf8:
            detail = "the address needs SMTPUTF8, which the server does not offer"
            run.results.append(SendResult(job.message.subscriber_id, Outcome.permanent, detail=detail))
            return
        job.mail = job.rcpt = None
        job.sent_content = False
        channel.jobs.append(job)
        commands = envelope(job.message.envelope_from, job.message.email, smtputf8=job.smtputf8)
        if channel.pipelining:
            channel.out += commands
            channel.expect(job, Stage.mail, Stage.rcpt, Stage.data)
        else:
            channel.out += commands[: commands.index(b"\r\n") + 2]
            channel.expect(job, Stage.mail)

    def _open(self) -> Channel:
        connection = self._opener.open()
        try:
            channel = Channel(connection, self.timeout)
            self._selector.register(channel.sock, selectors.EVENT_READ, channel)
        except (OSError, ValueError) as exc:
            discard(connection)
            raise TransportError(f"cannot use the connection to {self.url}: {exc}") from None
        self._channels.append(channel)
        self.connections_opened += 1
        return channel

    # -- the wire ---------------------------------------------------------------------------------------

    def _write_all(self) -> None:
        for channel in list(self._channels):
            if channel.out:
                self._write(channel)

    def _write(self, channel: Channel) -> None:
        try:
            while channel.out:
                sent = channel.sock.send(channel.out)
                del channel.out[:sent]
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            pass
        except OSError as exc:
            self._lost(channel, f"connection lost: {exc.strerror or exc}")
            return
        wants_write = bool(channel.out)
        if wants_write != channel.writing:
            channel.writing = wants_write
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if wants_write else 0)
            self._selector.modify(channel.sock, events, channel)

    def _poll(self, run: Run | None, until: float | None = None) -> None:
        """Wait for replies (or room to write) and handle what arrived; close connections that stalled."""
        now = time.monotonic()
        waits = [c.deadline for c in self._channels if c.awaiting]
        if until is not None:
            waits.append(until)
        timeout = max(0.0, min(waits) - now) if waits else 0.0
        for key, events in self._selector.select(timeout):
            channel: Channel = key.data
            if events & selectors.EVENT_WRITE and channel in self._channels:
                self._write(channel)
            if events & selectors.EVENT_READ and channel in self._channels:
                self._read(channel, run)
        now = time.monotonic()
        for channel in list(self._channels):
            if channel.awaiting and now >= channel.deadline:
                self._lost(channel, f"no reply from the server in {self.timeout:g} s", run)

    def _read(self, channel: Channel, run: Run | None) -> None:
        try:
            while True:
                data = channel.sock.recv(READ_SIZE)
                if not data:
                    self._lost(channel, "connection closed by the server", run)
                    return
                replies = channel.parser.feed(data)
                for reply in replies:
                    if not self._on_reply(channel, reply, run):
                        return
                if not channel.tls and len(data) < READ_SIZE:
                    return  # a plain socket had all it held; TLS may hold decrypted bytes: read on
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except ProtocolError as exc:
            self._lost(channel, f"the server does not speak SMTP: {exc}", run)
        except OSError as exc:
            self._lost(channel, f"connection lost: {exc.strerror or exc}", run)

    # -- replies ----------------------------------------------------------------------------------------

    def _on_reply(self, channel: Channel, reply: Reply, run: Run | None) -> bool:
        """Act on one reply; False when the connection is gone."""
        if not channel.awaiting:
            self._lost(channel, f"the server said {reply} unasked", run)
            return False
        job, stage = channel.awaiting.popleft()
        channel.deadline = time.monotonic() + self.timeout
        if stage is Stage.quit:
            self._drop(channel)
            return False
        if job is None:  # RSET, or the end of an aborted message: nothing to learn
            return True
        if reply.code == 421:  # "closing the channel": this message failed for now, the rest go again
            channel.jobs.remove(job)
            sid = job.message.subscriber_id
            self._result(run, SendResult(sid, Outcome.temporary, detail=str(reply), code=421))
            self._lost(channel, f"the server closed the connection: {reply}", run)
            return False
        if stage is Stage.mail:
            job.mail = reply
            if not channel.pipelining:
                if reply.code == 250:
                    channel.out += f"RCPT TO:<{job.message.email}>\r\n".encode()
                    channel.expect(job, Stage.rcpt)
                else:
                    self._refused(channel, job, run)
        elif stage is Stage.rcpt:
            job.rcpt = reply
            if not channel.pipelining:
                if reply.code in (250, 251):
                    channel.out += b"DATA\r\n"
                    channel.expect(job, Stage.data)
                else:
                    self._refused(channel, job, run)
        elif stage is Stage.data:
            accepted = job.mail is not None and job.mail.code == 250
            accepted = accepted and job.rcpt is not None and job.rcpt.code in (250, 251)
            if accepted and reply.code == 354:
                channel.out += job.data
                job.sent_content = True
                channel.expect(job, Stage.content)
            else:
                if reply.code == 354:  # a server that said go ahead regardless: end an empty message
                    channel.out += b".\r\n"
                    channel.expect(None, Stage.abort)
                self._refused(channel, job, run, reply)
        elif stage is Stage.content:
            channel.jobs.remove(job)
            self._result(run, self._delivered(job, reply))
        return True

    def _refused(self, channel: Channel, job: Job, run: Run | None, data: Reply | None = None) -> None:
        """MAIL, RCPT or DATA refused: the result says which and why, and RSET clears the transaction."""
        channel.jobs.remove(job)
        channel.out += b"RSET\r\n"
        channel.expect(None, Stage.rset)
        sid = job.message.subscriber_id
        if job.mail is None or job.mail.code != 250:  # the sender's problem, never the recipient's
            code = job.mail.code if job.mail is not None else None
            result = SendResult(sid, Outcome.temporary, detail=f"MAIL FROM refused: {job.mail}", code=code)
        else:
            reply = job.rcpt if job.rcpt is None or job.rcpt.code not in (250, 251) else data
            assert reply is not None
            result = SendResult(sid, outcome_for(reply.code), detail=str(reply), code=reply.code)
        self._result(run, result)

    @staticmethod
    def _delivered(job: Job, reply: Reply) -> SendResult:
        sid = job.message.subscriber_id
        if outcome_for(reply.code) is not Outcome.accepted:
            return SendResult(sid, outcome_for(reply.code), detail=str(reply), code=reply.code)
        match = QUEUED_AS.search(reply.raw)
        provider_id = match.group(1).decode("ascii") if match else reply.text[:255]
        return SendResult(sid, Outcome.accepted, provider_id=provider_id, code=reply.code)

    @staticmethod
    def _result(run: Run | None, result: SendResult) -> None:
        if run is not None:  # None while closing: no message is in flight then
            run.results.append(result)

    # -- losing a connection ----------------------------------------------------------------------------

    def _lost(self, channel: Channel, reason: str, run: Run | None = None) -> None:
        """The connection is unusable: close it; its messages go again first, or fail after two losses."""
        self._drop(channel)
        for job in reversed(channel.jobs):
            job.lost += 1
            if run is None:
                continue
            if job.lost >= TRIES_PER_MESSAGE:
                result = SendResult(job.message.subscriber_id, Outcome.temporary, detail=reason)
                run.results.append(result)
            else:
                run.again.appendleft(job)
        channel.jobs.clear()

    def _drop(self, channel: Channel) -> None:
        if channel not in self._channels:
            return
        self._channels.remove(channel)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(channel.sock)
        channel.awaiting.clear()
        discard(channel.connection)
