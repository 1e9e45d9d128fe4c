"""Every URL and address that carries a signed token: confirm, unsubscribe, VERP envelope sender.

One ``Links`` object per process (built from Settings) holds the signer, so the send loop signs without
looking anything up. Tokens come from ``subscribers.tokens``; this module only knows where they go.
"""

from __future__ import annotations

import hmac
import re

from newsletter.config import Settings
from newsletter.edition.slots import archive_url
from subscribers.tokens import Hmac256, Purpose, TokenSigner

CONFIRM_TTL_SECONDS = 7 * 24 * 3600
VERP_TAG = re.compile(
    r"^(?P<local>[^+@]+)\+e(?P<edition>\d+)-s(?P<subscriber>\d+)-(?P<sig>[0-9a-f]{10})@(?P<domain>.+)$"
)


class Links:
    def __init__(self, settings: Settings) -> None:
        secret = settings.require_secret()
        self._verp_mac = Hmac256(secret.encode("utf-8"), b"verp\x1f")
        self._signer = TokenSigner(secret, settings.effective_list_id)
        self._base = settings.base_url.rstrip("/")
        self._mailto = settings.effective_unsubscribe_mailto
        self._bounce_local, _, self._bounce_domain = settings.effective_bounce_address.partition("@")
        self.confirm_ttl_seconds = CONFIRM_TTL_SECONDS

    @property
    def signer(self) -> TokenSigner:
        return self._signer

    def unsubscribe_token(self, subscriber_id: int) -> str:
        return self._signer.sign(Purpose.unsubscribe, subscriber_id)

    def unsubscribe_url(self, token: str) -> str:
        return f"{self._base}/u/{token}"

    def unsubscribe_mailto(self, token: str) -> str:
        return f"mailto:{self._mailto}?subject=unsubscribe%20{token}"

    def confirm_url(self, subscriber_id: int, *, now: float | None = None) -> str:
        token = self._signer.sign(
            Purpose.confirm, subscriber_id, ttl_seconds=self.confirm_ttl_seconds, now=now
        )
        return f"{self._base}/confirm/{token}"

    def archive_url(self, edition_key: str) -> str:
        return archive_url(self._base, edition_key)

    def _verp_signature(self, edition_id: int, subscriber_id: int) -> str:
        return self._verp_mac.digest(f"{edition_id}\x1f{subscriber_id}".encode())[:5].hex()

    def delivery_ref(self, edition_id: int, subscriber_id: int) -> str:
        """``e<edition>-s<subscriber>-<sig>``: names one delivery, signed so nobody can forge another's."""
        return f"e{edition_id}-s{subscriber_id}-{self._verp_signature(edition_id, subscriber_id)}"

    def verp_address(self, edition_id: int, subscriber_id: int) -> str:
        """Envelope sender naming the delivery, signed so a forged bounce cannot suppress a stranger."""
        return self.verp_for_ref(self.delivery_ref(edition_id, subscriber_id))

    def verp_for_ref(self, ref: str) -> str:
        return f"{self._bounce_local}+{ref}@{self._bounce_domain}"

    def parse_verp(self, address: str) -> tuple[int, int] | None:
        """(edition id, subscriber id) from a VERP address we signed, or None."""
        match = VERP_TAG.match(address.strip().strip("<>").lower())
        if match is None:
            return None
        edition_id, subscriber_id = int(match["edition"]), int(match["subscriber"])
        if not hmac.compare_digest(self._verp_signature(edition_id, subscriber_id), match["sig"]):
            return None
        return edition_id, subscriber_id
