"""Signed, purpose-scoped tokens for confirm and unsubscribe links.

A token is ``<subscriber id>.<expiry>.<signature>`` (ids and expiry in base 36, signature base64url).
The signature is HMAC-SHA256 under a key derived from the secret and the purpose, over the list id,
subscriber id and expiry, so a confirm token cannot unsubscribe, a token of another list is refused, and
changing any part breaks it. Signatures are compared with ``hmac.compare_digest`` (constant time).
Unsubscribe tokens carry expiry 0: they must keep working in every edition ever sent.
"""

from __future__ import annotations

import binascii
import enum
import hashlib
import hmac
import time

from subscribers.errors import InvalidToken, TokenExpired

SIGNATURE_BYTES = 16  # 128 bits: beyond guessing, and keeps links short
MAX_TOKEN_LENGTH = 64


class Purpose(enum.StrEnum):
    confirm = "confirm"
    unsubscribe = "unsubscribe"


class Hmac256:
    """HMAC-SHA256 (RFC 2104) for one key and a fixed message prefix, both hashed in once.

    ``digest(message)`` is exactly ``hmac.digest(key, prefix + message, "sha256")``. Copying two
    prepared hash states is about half the cost of ``hmac.digest``, which sets the key up again on every
    call, and the prefix every message of one kind starts with (the list id, the purpose) is hashed
    once, not per message. A send signs two values per recipient, so this is on the hot path.
    """

    def __init__(self, key: bytes, prefix: bytes = b"") -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._inner.update(prefix)
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


def _key(secret: str, purpose: Purpose) -> bytes:
    return hmac.new(
        secret.encode("utf-8"), b"newsletter-token-salt:" + purpose.encode(), hashlib.sha256
    ).digest()


URLSAFE = bytes.maketrans(b"+/", b"-_")
B36_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
B36_PAIRS = [a + b for a in B36_DIGITS for b in B36_DIGITS]  # two digits per step: half the divisions


def _signature(mac: Hmac256, subscriber_id: int, expires: int) -> str:
    """Signs ``<list id>\x1f<subscriber id>\x1f<expiry>``; ``mac`` holds the list id part as its prefix."""
    digest = mac.digest(f"{subscriber_id}\x1f{expires}".encode())[:SIGNATURE_BYTES]
    # base64url without padding; binascii directly: base64.urlsafe_b64encode wraps it in two Python calls
    return binascii.b2a_base64(digest, newline=False).translate(URLSAFE).rstrip(b"=").decode("ascii")


def _b36(number: int) -> str:
    if number < 1296:  # up to two digits: one lookup (every unsubscribe token's expiry is 0)
        return B36_PAIRS[number][1:] if number < 36 else B36_PAIRS[number]
    if number < 1679616:  # up to four digits (subscriber ids below 1.6 million): two lookups
        high, low = divmod(number, 1296)
        return (B36_PAIRS[high][1:] if high < 36 else B36_PAIRS[high]) + B36_PAIRS[low]
    pairs = []
    while number:
        number, rest = divmod(number, 1296)
        pairs.append(B36_PAIRS[rest])
    return "".join(reversed(pairs)).lstrip("0")


class TokenSigner:
    """Signs and verifies tokens for one secret and one list. Cheap to build; holds no state but keys."""

    def __init__(self, secret: str, list_id: str) -> None:
        if len(secret) < 16:
            raise ValueError("the token secret must be at least 16 characters")
        prefix = f"{list_id}\x1f".encode()
        self._keys = {purpose: Hmac256(_key(secret, purpose), prefix) for purpose in Purpose}

    def sign(
        self,
        purpose: Purpose,
        subscriber_id: int,
        *,
        ttl_seconds: int | None = None,
        now: float | None = None,
    ) -> str:
        if subscriber_id < 1:
            raise ValueError("subscriber ids are positive")
        expires = 0 if ttl_seconds is None else int((time.time() if now is None else now) + ttl_seconds)
        signature = _signature(self._keys[purpose], subscriber_id, expires)
        return f"{_b36(subscriber_id)}.{_b36(expires)}.{signature}"

    def verify(self, purpose: Purpose, token: str, *, now: float | None = None) -> int:
        """The subscriber id the token names; InvalidToken or TokenExpired otherwise."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("This link is not valid.")
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("This link is not valid.")
        try:
            subscriber_id = int(parts[0], 36)
            expires = int(parts[1], 36)
        except ValueError:
            raise InvalidToken("This link is not valid.") from None
        # Re-encoding rejects non-canonical spellings ("+1", "01", upper case) that int() would accept.
        if _b36(subscriber_id) != parts[0] or _b36(expires) != parts[1] or subscriber_id < 1:
            raise InvalidToken("This link is not valid.")
        expected = _signature(self._keys[purpose], subscriber_id, expires)
        if not hmac.compare_digest(expected.encode("ascii"), parts[2].encode("utf-8", "replace")):
            raise InvalidToken("This link is not valid.")
        if expires and (time.time() if now is None else now) > expires:
            raise TokenExpired("This link has expired.", subscriber_id)
        return subscriber_id
