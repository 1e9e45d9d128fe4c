"""SMTP on the wire: replies parsed out of a byte stream, and the bytes of one transaction.

The transport drives its connections itself (non-blocking sockets, one thread), so it cannot use
smtplib's ``getreply``, which blocks on a buffered file and costs a regular expression per line. A reply
is one or more lines ``NNN-text`` ending with ``NNN text`` (RFC 5321, 4.2); anything else from the server
is a protocol error, and the connection is dropped rather than guessed at.
"""

from __future__ import annotations

import dataclasses
import re

MAX_REPLY_BYTES = 64 * 1024  # RFC 5321 allows 512-octet lines; a server sending more is broken or hostile
MAX_REPLY_TEXT = 500
UNSAFE_ADDRESS = re.compile(r"[\s<>]|^$")


class ProtocolError(Exception):
    """The server sent bytes that are not an SMTP reply."""


def reply_text(reply: bytes | str) -> str:
    """Whitespace collapsed, at most 500 characters: fit for a ledger row or a log line. For the replies
    read here and for those smtplib reports while it opens a session."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())[:MAX_REPLY_TEXT]


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    code: int
    raw: bytes  # the lines' text after the code, joined by spaces

    @property
    def text(self) -> str:
        return reply_text(self.raw)

    def __str__(self) -> str:
        return f"{self.code} {self.text}".rstrip()


class ReplyParser:
    """Feed it bytes as they arrive; it returns the complete replies among them, in order."""

    def __init__(self) -> None:
        self._partial = b""
        self._lines: list[bytes] = []  # continuation lines (``NNN-``) of the reply being read

    def feed(self, data: bytes) -> list[Reply]:
        if self._partial:
            data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > MAX_REPLY_BYTES:
            raise ProtocolError(f"a reply line longer than {MAX_REPLY_BYTES} bytes")
        replies: list[Reply] = []
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            separator = line[3:4]
            if len(line) < 3 or not line[:3].isdigit() or separator not in (b" ", b"-", b""):
                raise ProtocolError(f"not an SMTP reply: {line[:80]!r}")
            if separator == b"-":
                self._lines.append(line[4:])
                if len(self._lines) > 1000:
                    raise ProtocolError("a reply of more than 1000 lines")
            elif self._lines:
                self._lines.append(line[4:])
                replies.append(Reply(int(line[:3]), b" ".join(self._lines)))
                self._lines = []
            else:
                replies.append(Reply(int(line[:3]), line[4:]))
        return replies


def envelope(sender: str, recipient: str, *, smtputf8: bool) -> bytes:
    """MAIL, RCPT and DATA of one message, ready to be written at once (RFC 2920) or one by one.

    Addresses come validated from the store (and VERP from us), so they are written as they are; only
    whitespace and angle brackets, which would change the command, are refused earlier (``usable``).
    """
    options = " SMTPUTF8" if smtputf8 else ""
    return f"MAIL FROM:<{sender}>{options}\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode()


def usable(address: str) -> bool:
    return UNSAFE_ADDRESS.search(address) is None
