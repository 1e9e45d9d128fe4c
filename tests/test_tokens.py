"""Signed tokens: scoped to purpose, list and subscriber; tamper, forgery and expiry are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subscribers.errors import InvalidToken, TokenExpired
from subscribers.tokens import Purpose, TokenSigner

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


@given(st.binary(max_size=200), st.binary(max_size=100))
def test_the_precomputed_hmac_is_exactly_rfc_2104_hmac_sha256(key: bytes, message: bytes) -> None:
    import hmac

    from subscribers.tokens import Hmac256

    assert Hmac256(key).digest(message) == hmac.digest(key, message, "sha256")
