"""DKIM signatures for the SMTP transport: dkimpy's canonicalisation, the RSA step by ``cryptography``.

dkimpy signs RSA-2048 in pure Python, about 12 ms a message: more than building, encoding and sending
it together (DESIGN.md, pitfalls). Everything that decides *what* is signed (header parsing, relaxed
header and simple body canonicalisation, header selection, the tag list and its folding) is dkimpy's
own code, called step by step as ``dkim.DKIM.sign`` calls it; only the final RSASSA-PKCS1-v1_5 operation
over the SHA-256 digest runs in ``cryptography`` (OpenSSL, ~0.3 ms). The tests verify the result with
dkimpy's own verifier, so the two halves cannot drift apart unnoticed.

The signature covers the headers receivers and reputation systems care about, including both
List-Unsubscribe headers: RFC 8058 requires them to be signed for one-click unsubscribe to count.
From is signed twice (oversigned) so nobody can add a second From after signing.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import dkim
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from dkim.canonicalization import CanonicalizationPolicy  # type: ignore[import-untyped]

from newsletter.config import Settings
from newsletter.errors import ConfigError

SIGNED_HEADERS: tuple[str, ...] = (
    "From",
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
    "Feedback-ID",
)
CANONICALIZATION = b"relaxed/simple"
HEADER_NAME = b"DKIM-Signature"
MIN_KEY_BITS = 1024


class DkimSigner:
    """Signs finished messages: ``header`` is the ``extra_headers`` callable of ``MessageTemplate.build``.

    Thread-safe: it holds only the key and constants, and each call parses its own message.
    """

    def __init__(
        self,
        private_key_pem: bytes,
        selector: str,
        domain: str,
        *,
        headers: Sequence[str] = SIGNED_HEADERS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            key = serialization.load_pem_private_key(private_key_pem, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise ConfigError(f"the DKIM key is not an unencrypted PEM private key: {exc}") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError("the DKIM key must be an RSA key (rsa-sha256)")
        if key.key_size < MIN_KEY_BITS:
            raise ConfigError(
                f"the DKIM key has {key.key_size} bits; receivers require at least {MIN_KEY_BITS}"
            )
        if not selector or not domain:
            raise ConfigError("DKIM signing needs a selector and a domain (dkim_selector, dkim_domain)")
        self._key = key
        self.selector = selector.encode("ascii")
        self.domain = domain.lower().encode("idna")
        self._include = tuple(h.lower().encode("ascii") for h in headers)
        if b"from" not in self._include:
            raise ConfigError("a DKIM signature must cover From")
        self._canon = CanonicalizationPolicy.from_c_value(CANONICALIZATION)
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> DkimSigner | None:
        """The configured signer, or None when no key is configured."""
        if not settings.dkim_key_path:
            return None
        path = Path(settings.dkim_key_path).expanduser()
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read the DKIM key {path}: {exc.strerror or exc}") from None
        return cls(pem, settings.dkim_selector, settings.dkim_domain or settings.from_domain)

    def header(self, message: bytes) -> bytes:
        """The ``DKIM-Signature: …`` header field (CRLF-terminated, folded) to put in front of ``message``."""
        end = message.find(b"\r\n\r\n")
        body = message[end + 4 :]
        if end < 0 or body.count(b"\n") != body.count(b"\r\n"):
            parsed = dkim.DKIM(message, linesep=b"\r\n")  # unusual line ends: let dkimpy normalise it all
            body = parsed.body
        else:
            # dkimpy splits the whole message into lines (~3 ms for 100 KB); with CRLF line ends its body
            # is exactly the bytes after the blank line, so only the header block goes through its parser.
            parsed = dkim.DKIM(message[: end + 4], linesep=b"\r\n")
        body_hash = base64.b64encode(hashlib.sha256(self._canon.canonicalize_body(body)).digest())
        fields = [
            (b"v", b"1"),
            (b"a", b"rsa-sha256"),
            (b"c", self._canon.to_c_value()),
            (b"d", self.domain),
            (b"i", b"@" + self.domain),
            (b"q", b"dns/txt"),
            (b"s", self.selector),
            (b"t", str(int(self._clock())).encode("ascii")),
            (b"h", b" : ".join(self._include)),
            (b"bh", body_hash),
            (b"b", b"0" * 60),  # as dkimpy does: forces b= onto its own folded line
        ]
        # The signature header itself is hashed with an empty b= (RFC 6376 3.7), exactly as dkimpy does.
        unsigned = dkim.fold(
            b"; ".join(b"=".join(f) for f in fields), namelen=len(HEADER_NAME), linesep=b"\r\n"
        )
        unsigned = dkim.RE_BTAG.sub(b"\\1", unsigned)
        hasher = hashlib.sha256()
        headers = self._canon.canonicalize_headers(parsed.headers)
        dkim.hash_headers(
            hasher, self._canon, headers, self._include, (HEADER_NAME, b" " + unsigned), dict(fields)
        )
        signature = self._key.sign(hasher.digest(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        fields[-1] = (b"b", base64.b64encode(signature))
        value = b"; ".join(b"=".join(f) for f in fields) + b"\r\n"
        folded: bytes = dkim.fold(value, namelen=len(HEADER_NAME), linesep=b"\r\n")
        return HEADER_NAME + b": " + folded

    def public_dns_record(self) -> bytes:
        """The TXT record to publish at ``<selector>._domainkey.<domain>`` (and the tests' DNS stub)."""
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)
