"""DKIM: signatures made with dkimpy's canonicalisation and OpenSSL's RSA, verified by dkimpy itself.

DNS is stubbed only here, through dkimpy's ``dnsfunc`` argument: the public key comes from the test key.
"""

from __future__ import annotations

import time
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from newsletter.config import Settings
from newsletter.delivery.dkim import SIGNED_HEADERS, DkimSigner
from newsletter.delivery.message import OutboundMessage
from newsletter.delivery.personalise import MessageTemplate
from newsletter.errors import ConfigError

SELECTOR, DOMAIN = "news2026", "example.org"


@pytest.fixture(scope="module")
def key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def signer(key_pem: bytes) -> DkimSigner:
    return DkimSigner(key_pem, SELECTOR, DOMAIN)


def dns_for(signer: DkimSigner) -> object:
    record = signer.public_dns_record()

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None

    return lookup


def template() -> MessageTemplate:
    return MessageTemplate(
        subject="Weekly Highlights: Defections",
        text="Hello __nl_slot_name__,\n\n"
        + "A line of news.\n" * 400
        + "Unsubscribe: __nl_slot_unsubscribe_url__\n",
        html_body="<p>Hello __nl_slot_name__</p>"
        + "<p>News &amp; more.</p>\n" * 400
        + '<a href="__nl_slot_unsubscribe_url__">Unsubscribe</a>',
        from_header="Burma Partnership <news@example.org>",
        list_id_header="Burma Partnership <news.example.org>",
        feedback_id="e1:news.example.org:newsletter:example.org",
        date="Mon, 11 Jul 2011 07:00:00 +0000",
    )


def outbound(i: int = 7) -> OutboundMessage:
    return OutboundMessage(
        subscriber_id=i,
        email=f"reader{i}@example.net",
        name=f"Reader {i} Ünicode",
        message_id=f"<k.e1.s{i}@example.org>",
        envelope_from=f"bounces+e1-s{i}-0123456789@example.org",
        unsubscribe_url=f"https://news.example.org/u/{'t' * 120}{i}",
        unsubscribe_mailto="mailto:unsubscribe@example.org?subject=unsubscribe%20t",
        ref=f"e1-s{i}-0123456789",
    )


def test_a_signed_edition_verifies_with_dkimpy(signer: DkimSigner) -> None:
    raw = template().build(outbound(), signer.header)
    assert raw.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=example.org;")
    assert dkim.verify(raw, dnsfunc=dns_for(signer))


def test_the_signature_covers_the_headers_rfc_8058_needs(signer: DkimSigner) -> None:
    raw = template().build(outbound(), signer.header)
    fields = dkim.util.parse_tag_value(
        raw.split(b"\r\n\r\n")[0].split(b"DKIM-Signature:")[1].split(b"\r\nFrom:")[0]
    )
    signed = [h.strip() for h in fields[b"h"].split(b":")]
    for name in (
        "from",
        "subject",
        "date",
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "to",
        "list-id",
    ):
        assert name.encode() in signed
    assert signed.count(b"from") == 2  # oversigned: a second From cannot be added
    assert len(SIGNED_HEADERS) == len(signed)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"Subject: Weekly", b"Subject: Weakly"),
        (b"List-Unsubscribe: <https://news.example.org/u/", b"List-Unsubscribe: <https://evil.example/u/"),
        (b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: nothing"),
        (b"News &amp; more.", b"Nows &amp; more."),
        (b"\r\nFrom: ", b"\r\nFrom: Someone Else <ceo@example.org>\r\nFrom: "),
    ],
)
def test_any_change_to_signed_content_breaks_the_signature(
    signer: DkimSigner, old: bytes, new: bytes
) -> None:
    raw = template().build(outbound(), signer.header)
    assert old in raw
    assert not dkim.verify(raw.replace(old, new, 1), dnsfunc=dns_for(signer))


def test_the_rsa_step_gives_byte_for_byte_what_dkimpy_gives(
    signer: DkimSigner, key_pem: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen = 1_795_000_000
    monkeypatch.setattr(time, "time", lambda: frozen)
    ours = DkimSigner(key_pem, SELECTOR, DOMAIN, clock=lambda: frozen)
    raw = template().build(outbound())
    theirs = dkim.DKIM(raw).sign(
        SELECTOR.encode(),
        DOMAIN.encode(),
        key_pem,
        canonicalize=(b"relaxed", b"simple"),
        include_headers=[h.lower().encode() for h in SIGNED_HEADERS],
    )
    assert ours.header(raw) == theirs  # PKCS#1 v1.5 is deterministic: same input, same signature


def test_every_recipient_gets_a_signature_over_their_own_message(signer: DkimSigner) -> None:
    t = template()
    lookup = dns_for(signer)
    messages = [t.build(outbound(i), signer.header) for i in range(5)]
    assert all(dkim.verify(m, dnsfunc=lookup) for m in messages)
    swapped = messages[0].split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" + messages[1].split(b"\r\n\r\n", 1)[1]
    assert not dkim.verify(swapped, dnsfunc=lookup)


def test_keys_are_loaded_from_settings_and_bad_ones_explained(tmp_path: Path, key_pem: bytes) -> None:
    assert DkimSigner.from_settings(Settings()) is None
    path = tmp_path / "dkim.pem"
    path.write_bytes(key_pem)
    loaded = DkimSigner.from_settings(
        Settings(dkim_key_path=str(path), dkim_selector=SELECTOR, from_address="News <news@Example.org>")
    )
    assert loaded is not None and loaded.domain == b"example.org"
    with pytest.raises(ConfigError, match="cannot read the DKIM key"):
        DkimSigner.from_settings(Settings(dkim_key_path=str(tmp_path / "missing.pem"), dkim_selector="s"))
    with pytest.raises(ConfigError, match="not an unencrypted PEM"):
        DkimSigner(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n", "s", DOMAIN)
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ConfigError, match="must be an RSA key"):
        DkimSigner(ec_pem, "s", DOMAIN)
    with pytest.raises(ConfigError, match="selector"):
        DkimSigner(key_pem, "", DOMAIN)
