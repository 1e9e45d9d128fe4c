"""Turning what a person typed into an address and a name the store can keep.

email-validator does the syntax and normalisation (IDNA domains, Unicode NFC); deliverability is not
checked here because a DNS lookup per signup or per CSV row is slow and the confirmation email proves
deliverability anyway. The whole address is lower-cased for the unique key: mailbox providers treat
local parts case-insensitively in practice, and two rows for Ann@x and ann@x mean a double send.
"""

from __future__ import annotations

import hashlib
import unicodedata

from subscribers.errors import InvalidAddress

MAX_NAME_LENGTH = 100
MAX_LOCAL_PART_OCTETS = 64  # RFC 5321 4.5.3.1.1; email-validator checks it only in strict mode, in characters


def normalise_email(raw: str) -> str:
    """The canonical form of an address, or InvalidAddress with email-validator's explanation."""
    # Imported here: a send and most commands load the store but never check an address.
    from email_validator import EmailNotValidError, validate_email

    if not isinstance(raw, str) or not raw.strip():
        raise InvalidAddress("Please enter an email address.")
    if any(ch in raw for ch in "\r\n\x00"):
        raise InvalidAddress("The email address contains a line break or control character.")
    if "\ufffd" in raw:  # what a decoder leaves for bytes it could not read: never part of a real address
        raise InvalidAddress("The email address contains unreadable characters (U+FFFD).")
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    octets = len(result.local_part.encode("utf-8"))
    if octets > MAX_LOCAL_PART_OCTETS:
        raise InvalidAddress(
            f"The part before the @-sign is {octets} bytes long; mail servers accept at most "
            f"{MAX_LOCAL_PART_OCTETS} (RFC 5321)."
        )
    return result.normalized.lower()


def clean_name(raw: str | None) -> str:
    """A display name safe for headers and pages: control characters (CR, LF, NUL …) removed, trimmed."""
    if not raw:
        return ""
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in raw)
    text = " ".join(text.split())
    return text[:MAX_NAME_LENGTH]


def email_hash(normalised: str) -> str:
    """The suppression key kept after erasure: enough to recognise an address, not to recover it."""
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()
