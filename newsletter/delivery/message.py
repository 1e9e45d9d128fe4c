"""Headers of an outbound message, and the per-recipient record they are built from.

The header values that are the same for every recipient are encoded once per send; the few that vary
(To, Message-ID, List-Unsubscribe, X-Newsletter-Ref) are formatted per message as plain strings, never
through ``email.message.EmailMessage``: its policy folds a long List-Unsubscribe into RFC 2047 encoded
words that receivers do not read as URLs (see DESIGN.md, pitfalls), and it costs milliseconds.
Anything that came from a person (the display name) is stripped of control characters here, whatever
the store already did, so no input can start a new header line.
"""

from __future__ import annotations

import dataclasses
import email.utils
import re
from email.header import Header

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
MAX_HEADER_LINE = 998


@dataclasses.dataclass(slots=True)
class OutboundMessage:
    """One recipient of one edition: everything a transport or the personaliser needs to know.

    Not frozen, like the other per-recipient records (SendResult, LedgerResult): a frozen dataclass sets
    each field through ``object.__setattr__``, four times the cost, and a send makes millions of these.
    Nothing changes one after it is made.
    """

    subscriber_id: int
    email: str
    name: str
    message_id: str  # with angle brackets, deterministic per edition x subscriber
    envelope_from: str  # VERP address naming this delivery
    unsubscribe_url: str
    unsubscribe_mailto: str
    ref: str  # e<edition>-s<subscriber>-<sig>, also in X-Newsletter-Ref for bounces that lose the envelope


def single_line(value: str) -> str:
    """Collapse every control character (CR and LF included) so a value can never begin a new header."""
    if CONTROL_CHARS.search(value) is None:  # the common case, and ~50x cheaper than rewriting
        return value.strip()
    return " ".join(CONTROL_CHARS.sub(" ", value).split())


def encode_text(value: str, header_name: str) -> str:
    """An unstructured header value: as is when ASCII, RFC 2047 encoded words (CRLF-folded) otherwise."""
    value = single_line(value)
    if value.isascii():
        return value
    return Header(value, "utf-8", header_name=header_name).encode(linesep="\r\n")


def format_address(name: str, address: str) -> str:
    """``Name <addr>`` with the name quoted or RFC 2047 encoded as needed; CR/LF can never get through."""
    name = single_line(name)
    address = single_line(address).replace(" ", "")
    if not name:
        return address
    if address.isascii():
        formatted = email.utils.formataddr((name, address), charset="utf-8")
    else:
        # An internationalised address (RFC 6532, sent with SMTPUTF8) goes as UTF-8; formataddr refuses
        # it, so let it format the display name against a stand-in address and put the real one back.
        formatted = email.utils.formataddr((name, "a@a"), charset="utf-8")[: -len("<a@a>")] + f"<{address}>"
    return formatted.replace("\n", "\r\n").replace("\r\r\n", "\r\n")


def message_id(edition_key: str, edition_id: int, subscriber_id: int, domain: str) -> str:
    """Deterministic: a resend after a crash carries the same id, so receivers can drop the duplicate."""
    return f"<{edition_key}.e{edition_id}.s{subscriber_id}@{domain}>"


def list_unsubscribe(url: str, mailto: str) -> str:
    return f"<{url}>, <{mailto}>"


def check_header_line(name: str, value: str) -> str:
    line = f"{name}: {value}"
    if any(len(part) > MAX_HEADER_LINE for part in line.split("\r\n")):
        raise ValueError(f"{name} header line exceeds {MAX_HEADER_LINE} octets")
    return line
