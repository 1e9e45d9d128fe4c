"""Turning what a person typed into an address and a name the store can keep.

email-validator does the syntax and normalisation (IDNA domains, Unicode NFC); deliverability is not
checked here because a DNS lookup per signup or per CSV row is slow and the confirmation email proves
deliverability anyway. The whole address is lower-cased for the unique key: mailbox providers treat
local parts case-insensitively in practice, and two rows for Ann@x and ann@x mean a double send.

``AddressNormaliser`` gives the same answer as ``normalise_email`` at import speed: email-validator
checks each distinct domain once, and the local part of a plain ASCII address is checked with
email-validator's own dot-atom pattern; anything else (Unicode, quotes, a second @-sign, any address
that fails a check) goes to ``normalise_email`` itself, so every error message is email-validator's.
"""

from __future__ import annotations

import hashlib
import re
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


EMAIL_MAX_LENGTH = 254  # email-validator's limit on the whole address, in octets
MAX_CACHED_DOMAINS = 50_000  # bounded, so a list of a million one-off domains keeps memory flat


class AddressNormaliser:
    """``normalise_email`` for many addresses: each domain is checked by email-validator once.

    Exact, not approximate: for an ASCII address with one @-sign whose local part is a dot-atom,
    email-validator leaves the local part as it is and the domain's checks and normal form depend on
    the domain alone; the length checks it makes on the whole address are repeated here. Any other
    address, and any that fails a check, is passed to ``normalise_email``.
    """

    def __init__(self, max_domains: int = MAX_CACHED_DOMAINS) -> None:
        from email_validator.rfc_constants import DOT_ATOM_TEXT

        self._dot_atom: re.Pattern[str] = DOT_ATOM_TEXT
        self._domains: dict[str, tuple[str, str] | None] = {}
        self._max_domains = max_domains

    def _domain(self, domain: str) -> tuple[str, str] | None:
        """The domain's normal and ASCII forms, or None when email-validator refuses it."""
        from email_validator import EmailNotValidError, validate_email

        try:
            probe = validate_email("a@" + domain, check_deliverability=False)
        except EmailNotValidError:
            return None
        return probe.domain, probe.ascii_domain

    def __call__(self, raw: str) -> str:
        if (
            isinstance(raw, str)
            and raw.isascii()
            and "\r" not in raw
            and "\n" not in raw
            and "\x00" not in raw
        ):
            address = raw.strip()
            local, at, domain = address.partition("@")
            if (
                at
                and "@" not in domain
                and len(local) <= MAX_LOCAL_PART_OCTETS
                and self._dot_atom.match(local)
            ):
                if domain in self._domains:
                    forms = self._domains[domain]
                else:
                    if len(self._domains) >= self._max_domains:
                        self._domains.clear()
                    forms = self._domains[domain] = self._domain(domain)
                if forms is not None:
                    normal, ascii_domain = forms
                    longest = max(
                        len(address),
                        len((local + "@" + normal).encode("utf-8")),
                        len(local) + 1 + len(ascii_domain),
                    )
                    if longest <= EMAIL_MAX_LENGTH:
                        return (local + "@" + normal).lower()
        return normalise_email(raw)


def clean_name(raw: str | None) -> str:
    """A display name safe for headers and pages: control characters (CR, LF, NUL …) removed, trimmed."""
    if not raw:
        return ""
    if raw.isprintable():  # no character of category C (nor a separator but the space): nothing to remove
        return " ".join(raw.split())[:MAX_NAME_LENGTH]
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in raw)
    text = " ".join(text.split())
    return text[:MAX_NAME_LENGTH]


def email_hash(normalised: str) -> str:
    """The suppression key kept after erasure: enough to recognise an address, not to recover it."""
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()
