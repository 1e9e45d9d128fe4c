"""Edition + recipient -> the bytes of one message, by filling precomputed slots.

The edition's text and HTML are quoted-printable encoded once, split at the per-recipient slot markers.
Each literal segment that precedes a slot ends with a soft line break, and each filled slot ends with
one too, so a segment always starts at the beginning of an encoded line and its line lengths stay as
``binascii.b2a_qp`` made them (never over 76). Filling a message is then a handful of small encodes and
one ``bytes.join``: microseconds, where building an ``EmailMessage`` costs milliseconds.
"""

from __future__ import annotations

import binascii
import hashlib
import html
import re
from collections.abc import Callable, Sequence

from newsletter.delivery.message import (
    OutboundMessage,
    check_header_line,
    encode_text,
    format_address,
    list_unsubscribe,
)
from newsletter.edition.slots import PER_RECIPIENT_SLOTS, slot_marker

SOFT_BREAK = b"=\r\n"
NAME_FALLBACK = "reader"

Segment = bytes | str  # bytes: pre-encoded literal; str: the name of a slot to fill


def qp(data: str) -> bytes:
    """Quoted-printable with CRLF line ends, for text already normalised to LF."""
    return binascii.b2a_qp(data.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


def dot_stuff(data: bytes) -> bytes:
    """Double a "." that begins a line (RFC 5321, 4.5.2), for data that itself begins a line."""
    data = data.replace(b"\r\n.", b"\r\n..")
    return b"." + data if data.startswith(b".") else data


def _unchanged(data: bytes) -> bytes:
    return data


def _stuffed(segments: Sequence[Segment]) -> tuple[Segment, ...]:
    return tuple(dot_stuff(s) if isinstance(s, bytes) else s for s in segments)


def compile_body(body: str) -> tuple[Segment, ...]:
    """Split a rendered body at slot markers into pre-encoded literals and slot names."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    names = {slot_marker(name): name for name in PER_RECIPIENT_SLOTS}
    pattern = re.compile("(" + "|".join(re.escape(marker) for marker in names) + ")")
    pieces = pattern.split(body)
    segments: list[Segment] = []
    for index, piece in enumerate(pieces):
        if index % 2:
            segments.append(names[piece])
            continue
        encoded = qp(piece)
        followed_by_slot = index + 1 < len(pieces)
        if followed_by_slot and encoded and not encoded.endswith(b"\r\n"):
            encoded += SOFT_BREAK
        if encoded:
            segments.append(encoded)
    return tuple(segments)


class MessageTemplate:
    """One edition, ready to be personalised for any number of recipients."""

    def __init__(
        self,
        *,
        subject: str,
        text: str,
        html_body: str,
        from_header: str,
        list_id_header: str,
        feedback_id: str,
        date: str,
        name_fallback: str = NAME_FALLBACK,
    ) -> None:
        self.boundary = "==nl-" + hashlib.sha256((text + html_body).encode("utf-8")).hexdigest()[:24] + "=="
        head = [
            check_header_line("From", from_header),
            None,  # To
            check_header_line("Subject", encode_text(subject, "Subject")),
            check_header_line("Date", date),
        ]
        self._head_start = ("\r\n".join(h for h in head[:1] if h) + "\r\n").encode("utf-8")
        self._head_middle = ("\r\n".join(h for h in head[2:] if h) + "\r\n").encode("utf-8")
        self._head_end = (
            "\r\n".join(
                [
                    check_header_line("List-Id", list_id_header),
                    "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
                    check_header_line("Feedback-ID", feedback_id),
                    "MIME-Version: 1.0",
                    f'Content-Type: multipart/alternative; boundary="{self.boundary}"',
                ]
            )
            + "\r\n\r\n"
        ).encode("ascii")
        part_head = (
            '--{b}\r\nContent-Type: {t}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        )
        self._text_head = part_head.format(b=self.boundary, t="text/plain").encode("ascii")
        self._html_head = ("\r\n" + part_head.format(b=self.boundary, t="text/html")).encode("ascii")
        self._tail = f"\r\n--{self.boundary}--\r\n".encode("ascii")
        self.text_segments = compile_body(text)
        self.html_segments = compile_body(html_body)
        self._segments = {
            False: (self.text_segments, self.html_segments),
            True: (_stuffed(self.text_segments), _stuffed(self.html_segments)),
        }
        self._name_fallback = name_fallback

    def build(self, message: OutboundMessage, extra_headers: Callable[[bytes], bytes] | None = None) -> bytes:
        """The complete RFC 5322 message for one recipient, CRLF line ends, ready for a file or an API.

        ``extra_headers`` receives the finished message and returns header lines to prepend (DKIM).
        """
        raw = b"".join(self._pieces(message, stuffed=False))
        return extra_headers(raw) + raw if extra_headers is not None else raw

    def build_data(
        self, message: OutboundMessage, extra_headers: Callable[[bytes], bytes] | None = None
    ) -> bytes:
        """The same message as SMTP DATA content: dot-stuffed, ended by ``CRLF . CRLF``.

        Stuffing the finished 20 KB message would cost more than building it (one search for CRLF "."
        over every byte); the edition's segments were stuffed once, so only the few per-recipient bytes
        are searched here. Every piece starts at the beginning of a line, so stuffing pieces one by one
        gives the same bytes as stuffing the whole.
        """
        pieces = self._pieces(message, stuffed=True)
        if extra_headers is not None:  # the signature covers the message as sent, before stuffing
            pieces.insert(0, dot_stuff(extra_headers(b"".join(self._pieces(message, stuffed=False)))))
        pieces.append(b".\r\n")
        return b"".join(pieces)

    def _pieces(self, message: OutboundMessage, *, stuffed: bool) -> list[bytes]:
        name = message.name or self._name_fallback
        stuff = dot_stuff if stuffed else _unchanged
        text_values = {
            "name": stuff(qp(name) + SOFT_BREAK),
            "unsubscribe_url": stuff(qp(message.unsubscribe_url) + SOFT_BREAK),
        }
        html_values = {
            "name": stuff(qp(html.escape(name)) + SOFT_BREAK),
            "unsubscribe_url": stuff(qp(html.escape(message.unsubscribe_url)) + SOFT_BREAK),
        }
        unsubscribe = list_unsubscribe(message.unsubscribe_url, message.unsubscribe_mailto)
        per_recipient = (
            f"To: {format_address(message.name, message.email)}\r\n".encode()
            + self._head_middle
            + (
                f"Message-ID: {message.message_id}\r\n"
                f"List-Unsubscribe: {unsubscribe}\r\n"
                f"X-Newsletter-Ref: {message.ref}\r\n"
            ).encode()
        )
        text_segments, html_segments = self._segments[stuffed]
        # The edition's own header and MIME lines need no stuffing: each starts with a field name, a
        # boundary or folding whitespace, never a ".".
        out = [self._head_start, stuff(per_recipient), self._head_end, self._text_head]
        for segment in text_segments:
            out.append(text_values[segment] if isinstance(segment, str) else segment)
        out.append(self._html_head)
        for segment in html_segments:
            out.append(html_values[segment] if isinstance(segment, str) else segment)
        out.append(self._tail)
        return out
