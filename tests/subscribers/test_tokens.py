"""Signed tokens: scoped to purpose, list and subscriber; tamper, forgery and expiry are refused."""

from __future__ import annotations

import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subscribers.errors import InvalidToken, TokenExpired
from subscribers.tokens import Hmac256, Purpose, TokenSigner, _b36

SIGNER = TokenSigner("a-secret-of-sufficient-length", "weekly.example.org")


def test_a_token_names_its_subscriber() -> None:
    token = SIGNER.sign(Purpose.unsubscribe, 42)
    assert SIGNER.verify(Purpose.unsubscribe, token) == 42


def test_a_token_for_one_purpose_does_not_work_for_another() -> None:
    token = SIGNER.sign(Purpose.confirm, 42, ttl_seconds=3600)
    with pytest.raises(InvalidToken):
        SIGNER.verify(Purpose.unsubscribe, token)


def test_a_token_of_another_list_or_secret_is_refused() -> None:
    token = SIGNER.sign(Purpose.unsubscribe, 42)
    with pytest.raises(InvalidToken):
        TokenSigner("a-secret-of-sufficient-length", "other.example.org").verify(Purpose.unsubscribe, token)
    with pytest.raises(InvalidToken):
        TokenSigner("another-secret-of-good-length", "weekly.example.org").verify(Purpose.unsubscribe, token)


def test_changing_the_subscriber_breaks_the_signature() -> None:
    token = SIGNER.sign(Purpose.unsubscribe, 42)
    _, expiry, signature = token.split(".")
    with pytest.raises(InvalidToken):
        SIGNER.verify(Purpose.unsubscribe, f"15.{expiry}.{signature}")  # "15" is 41 in base 36


def test_confirm_tokens_expire_and_say_whose_they_were() -> None:
    token = SIGNER.sign(Purpose.confirm, 7, ttl_seconds=60, now=1_000_000)
    assert SIGNER.verify(Purpose.confirm, token, now=1_000_059) == 7
    with pytest.raises(TokenExpired) as caught:
        SIGNER.verify(Purpose.confirm, token, now=1_000_061)
    assert caught.value.subscriber_id == 7


def test_unsubscribe_tokens_never_expire() -> None:
    token = SIGNER.sign(Purpose.unsubscribe, 7, now=0)
    assert SIGNER.verify(Purpose.unsubscribe, token, now=10**12) == 7


@pytest.mark.parametrize("token", ["", "...", "1.0", "1.0.x", "Z.0.abc", "+1.0.abc", "01.0.abc", "x" * 500])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        SIGNER.verify(Purpose.unsubscribe, token)


@given(st.text(max_size=80))
def test_no_random_text_is_accepted(text: str) -> None:
    with pytest.raises(InvalidToken):
        SIGNER.verify(Purpose.unsubscribe, text)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        TokenSigner("short", "x")


@given(st.binary(max_size=200), st.binary(max_size=30), st.binary(max_size=100))
def test_the_precomputed_hmac_is_exactly_rfc_2104_hmac_sha256(
    key: bytes, prefix: bytes, message: bytes
) -> None:
    assert Hmac256(key, prefix).digest(message) == hmac.digest(key, prefix + message, "sha256")


@given(st.integers(min_value=0, max_value=36**9))
def test_base_36_is_the_one_canonical_spelling(number: int) -> None:
    digits, rest = "", number
    while True:
        rest, digit = divmod(rest, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
        if not rest:
            break
    assert _b36(number) == digits


KNOWN = TokenSigner("known-answer-secret-0123456789", "news.example.org")


@pytest.mark.parametrize(
    ("subscriber_id", "unsubscribe", "confirm"),
    [
        (1, "1.0.v8kj8FuoaKOW-VZx78bPbw", "1.s44wh0.eSNXpFq0zO0ZfcjG9EL5mA"),
        (1296, "100.0.-HXCocCdDv1NuStv8nZrKQ", "100.s44wh0.g7BGcjvfoEp5t2PZOsUFRQ"),
        (1679615, "zzzz.0.IJ9xyHNNsxzI9hdcimykQg", "zzzz.s44wh0.SidZ_x9cNywNDk_LBBQmJA"),
        (10**12, "cre66i9s.0.K0X26hNZzsdc1qBNV2Jf-g", "cre66i9s.s44wh0.0oJHIIKlSohbQJEmB_UR0Q"),
    ],
)
def test_links_in_editions_already_sent_keep_working(
    subscriber_id: int, unsubscribe: str, confirm: str
) -> None:
    """Tokens as the first release signed them: a change to signing must not break a mailed link."""
    assert KNOWN.sign(Purpose.unsubscribe, subscriber_id) == unsubscribe
    assert KNOWN.verify(Purpose.unsubscribe, unsubscribe) == subscriber_id
    assert KNOWN.sign(Purpose.confirm, subscriber_id, ttl_seconds=100, now=1_700_000_000) == confirm
