"""A real SMTP server for the tests (aiosmtpd on 127.0.0.1, a random port) that can misbehave on purpose.

Faults are drawn per transaction: a share of RCPT or DATA commands answered 451, a share of connections
dropped at the end of DATA *before* the reply (the client cannot know the outcome; the server does not
count the message), and predicates for recipients refused for good (550) or deferred forever (451).

``received`` counts Message-IDs of the messages the server acknowledged with 250: the truth the tests
compare the ledger with.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import random
import re
import ssl
import threading
from collections.abc import Callable
from typing import Any, Self

from aiosmtpd.smtp import SMTP, Envelope, Session

MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


def never(_address: str) -> bool:
    return False


@dataclasses.dataclass
class Faults:
    rcpt_temporary: float = 0.0
    data_temporary: float = 0.0
    drop_at_data: float = 0.0
    permanent: Callable[[str], bool] = never
    always_temporary: Callable[[str], bool] = never
    seed: int = 1
    pipelining: bool = False  # offer PIPELINING (aiosmtpd reads commands in order, so it copes)
    # The connection-costing faults strike every Nth command of their kind (0: never), counted
    # across connections, so a test sees an exact minimum of each however the connections interleave.
    stall_every_mail: int = 0  # never answer MAIL (the client must time out)
    closing_every_rcpt: int = 0  # answer RCPT with 421 and close the connection
    garbage_every_data: int = 0  # answer the end of DATA with something that is not SMTP
    # A receiver's own refusal: the reply (say "550 5.7.26 …") to give this recipient at the end of
    # DATA instead of accepting the message, or None to go on as above.
    data_reply: Callable[[str], str | None] = lambda _address: None


@dataclasses.dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message_id: str
    content: bytes


class FaultyHandler:
    def __init__(self, faults: Faults, keep_content: bool) -> None:
        self.faults = faults
        self.keep_content = keep_content
        self.rng = random.Random(faults.seed)
        self.received: collections.Counter[str] = collections.Counter()
        self.messages: list[Received] = []
        self.refused: collections.Counter[int] = collections.Counter()
        self.drops = 0
        self.stalls = 0
        self.connections = 0
        self.seen: collections.Counter[str] = collections.Counter()  # commands, by verb
        self.lock = threading.Lock()

    def _roll(self, share: float) -> bool:
        return share > 0 and self.rng.random() < share

    def _nth(self, verb: str, every: int) -> bool:
        self.seen[verb] += 1
        return every > 0 and self.seen[verb] % every == 0

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # this hook replaces aiosmtpd's own bookkeeping of the name
        if self.faults.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self._nth("MAIL", self.faults.stall_every_mail):
            self.stalls += 1
            await asyncio.sleep(3600)  # cancelled when the server stops
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self._nth("RCPT", self.faults.closing_every_rcpt):
            self.refused[421] += 1
            assert server.transport is not None
            asyncio.get_running_loop().call_soon(server.transport.close)  # after the reply is written
            return "421 4.3.2 shutting down"
        if self.faults.permanent(address):
            self.refused[550] += 1
            return f"550 5.1.1 <{address}>: no such user"
        if self.faults.always_temporary(address) or self._roll(self.faults.rcpt_temporary):
            self.refused[451] += 1
            return "451 4.7.1 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._roll(self.faults.drop_at_data):
            self.drops += 1
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()  # the data arrived, the reply never leaves: the ambiguous case
            return "250 never sent"
        if self._nth("DATA", self.faults.garbage_every_data):
            self.refused[0] += 1
            return "this is not an SMTP reply"
        reply = self.faults.data_reply(envelope.rcpt_tos[0]) if envelope.rcpt_tos else None
        if reply is not None:
            self.refused[int(reply[:3])] += 1
            return reply
        if self._roll(self.faults.data_temporary):
            self.refused[452] += 1
            return "452 4.3.1 insufficient system storage"
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        match = MESSAGE_ID.search(content)
        message_id = match.group(1).decode() if match else ""
        with self.lock:
            self.received[message_id] += 1
            self.messages.append(
                Received(
                    str(envelope.mail_from),
                    tuple(envelope.rcpt_tos),
                    message_id,
                    content if self.keep_content else b"",
                )
            )
            queue_id = f"Q{len(self.messages)}"
        return f"250 2.0.0 Ok: queued as {queue_id}"


class _LoopServer:
    """An asyncio server on 127.0.0.1 in a background thread: start, stop (clients' connections too), with."""

    thread_name = "smtp-server"
    backlog = 100
    cancel_tasks_on_stop = False

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=self.thread_name, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._protocols: list[asyncio.Protocol] = []
        self.host = "127.0.0.1"
        self.port = 0
        self.implicit_tls: ssl.SSLContext | None = None  # TLS from the first byte (smtps://)

    @property
    def url(self) -> str:
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}"

    def _make_protocol(self) -> asyncio.Protocol:
        raise NotImplementedError

    def _protocol(self) -> asyncio.Protocol:
        protocol = self._make_protocol()
        self._protocols.append(protocol)
        return protocol

    def start(self) -> Self:
        self._thread.start()

        async def serve() -> asyncio.base_events.Server:
            return await self._loop.create_server(
                self._protocol, self.host, 0, backlog=self.backlog, ssl=self.implicit_tls
            )

        self._server = asyncio.run_coroutine_threadsafe(serve(), self._loop).result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for protocol in self._protocols:  # close the clients' connections too, not only the listener
                transport = getattr(protocol, "transport", None)
                if transport is not None:
                    transport.close()
            await asyncio.sleep(0.05)
            if self.cancel_tasks_on_stop:
                for task in asyncio.all_tasks():
                    if task is not asyncio.current_task():
                        task.cancel()

        if self._server is not None:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SmtpServer(_LoopServer):
    """``with SmtpServer(faults) as server:`` — ``server.url`` is the smtp:// URL to send to."""

    cancel_tasks_on_stop = True  # aiosmtpd keeps a task per session

    def __init__(
        self,
        faults: Faults | None = None,
        *,
        keep_content: bool = True,
        implicit_tls: ssl.SSLContext | None = None,
        **smtp_options: Any,
    ) -> None:
        super().__init__()
        self.implicit_tls = implicit_tls
        self.handler = FaultyHandler(faults or Faults(), keep_content)
        self._options = smtp_options

    @property
    def received(self) -> collections.Counter[str]:
        return self.handler.received

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    def _make_protocol(self) -> asyncio.Protocol:
        self.handler.connections += 1
        return SMTP(self.handler, hostname="test.invalid", loop=self._loop, **self._options)


# -- a minimal SMTP sink: the protocol only, for volume (crash test, benchmarks) -----------------------


class SinkProtocol(asyncio.Protocol):
    """Just enough ESMTP to take messages fast: one buffer search per message, not one await per line.

    aiosmtpd reads DATA line by line (~300 messages/s of 19 KB here, DESIGN.md pitfalls); this sink is
    not the bottleneck of what it measures. It counts Message-IDs of the messages it acknowledged.
    """

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.buffer = bytearray()
        self.in_data = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 sink.invalid ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        assert self.transport is not None
        replies = []
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    break
                self.sink.took(bytes(self.buffer[: end + 2]))
                del self.buffer[: end + 5]
                self.in_data = False
                replies.append(b"250 2.0.0 Ok: queued\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            verb = bytes(self.buffer[:4]).upper()
            del self.buffer[: end + 2]
            if verb == b"EHLO":
                replies.append(b"250-sink.invalid\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                self.in_data = True
                replies.append(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                replies.append(b"221 bye\r\n")
                self.transport.write(b"".join(replies))
                self.transport.close()
                return
            else:  # HELO, MAIL, RCPT, RSET, NOOP: all fine
                replies.append(b"250 OK\r\n")
        if replies:
            self.transport.write(b"".join(replies))


class Sink(_LoopServer):
    """``with Sink() as sink:`` — an SMTP sink on 127.0.0.1 in a background thread."""

    thread_name = "smtp-sink"
    backlog = 1024

    def __init__(self, *, count_ids: bool = True) -> None:
        super().__init__()
        self.count_ids = count_ids
        self.received: collections.Counter[str] = collections.Counter()
        self.messages = 0
        self.bytes = 0

    def took(self, message: bytes) -> None:
        self.messages += 1
        self.bytes += len(message)
        if self.count_ids:
            match = MESSAGE_ID.search(message, 0, 8192)
            self.received[match.group(1).decode() if match else ""] += 1

    def _make_protocol(self) -> asyncio.Protocol:
        return SinkProtocol(self)


def main() -> None:
    """``python -m tests.support.smtp_server``: a sink in its own process (benchmarks).

    Prints its port, then, when stdin closes, ``messages bytes``."""
    import sys

    sink = Sink(count_ids=False).start()
    print(sink.port, flush=True)
    try:
        sys.stdin.read()
    finally:
        print(sink.messages, sink.bytes, flush=True)
        sink.stop()


if __name__ == "__main__":
    main()
