"""Signed delivery references and VERP addresses (newsletter/links.py)."""

from __future__ import annotations

from newsletter.config import Settings
from newsletter.delivery.links import Links

SETTINGS = Settings(
    secret_key="known-answer-secret-0123456789",
    base_url="https://news.example.org",
    from_address="News <news@example.org>",
    bounce_address="bounces@example.org",
    postal_address="PO Box 1",
)


def test_references_in_messages_already_sent_keep_mapping_back() -> None:
    """A bounce or webhook event can arrive days after the send: the signing must not change under it."""
    links = Links(SETTINGS)
    assert links.delivery_ref(7, 123456) == "e7-s123456-e2985c1822"
    assert links.parse_verp("bounces+e7-s123456-e2985c1822@example.org") == (7, 123456)
    assert links.unsubscribe_token(123456) == "2n9c.0.mX5-Z9u-7EF8j8YEXdb8YQ"


def test_a_verp_address_names_its_delivery_and_nobody_elses() -> None:
    links = Links(SETTINGS)
    address = links.verp_address(12, 345)
    assert links.parse_verp(f"<{address.upper()}>") == (12, 345)
    local, _, domain = address.partition("@")
    signature = local[-10:]
    forged = local[:-10] + ("0" if signature[0] != "0" else "1") + signature[1:]
    assert links.parse_verp(f"{forged}@{domain}") is None
    assert links.parse_verp(address.replace("-s345-", "-s346-")) is None
    assert links.parse_verp("bounces@example.org") is None
