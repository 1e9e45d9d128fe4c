"""The fast normaliser gives exactly email-validator's answer: the same address or the same error."""

from __future__ import annotations

import itertools
import random

import pytest

from subscribers.errors import InvalidAddress
from subscribers.validation import AddressNormaliser, normalise_email

LOCALS = [
    "ann",
    "Ann.Lee",
    "a",
    "x" * 64,
    "x" * 65,
    "o'neil",
    "a+tag",
    "first_last-9",
    "#!$%&'*+-/=?^_`{|}~",
    ".ann",
    "ann.",
    "a..b",
    "",
    " ann",
    "an n",
    '"ann"',
    '"a b"',
    '"a@b"',
    "a\\b",
    "a,b",
    "a;b",
    "a(b)",
    "a[b]",
    "a<b",
    "a>b",
    "a:b",
    "Info",
    "POSTMASTER",
    "zoë",
    "ÅSA",
    "ｆｕｌｌ",
    "a\u0301",
    "mü\u0308",
    "用户",
    "a\tb",
    "a\x7fb",
    "\u200bann",
]
DOMAINS = [
    "example.org",
    "EXAMPLE.ORG",
    "sub.example.co.uk",
    "example",
    "localhost",
    "example.invalid",
    "test",
    "x.test",
    "example.123",
    "123.example",
    "-example.org",
    "example-.org",
    "exa_mple.org",
    "exa mple.org",
    "example..org",
    ".example.org",
    "example.org.",
    "[192.0.2.1]",
    "[IPv6:2001:db8::1]",
    "münchen.de",
    "xn--mnchen-3ya.de",
    "xn--zz.de",
    "例え.jp",
    "ｅｘａｍｐｌｅ.org",
    "a" * 63 + ".org",
    "a" * 64 + ".org",
    ".".join(["a" * 60] * 4) + ".org",
    ".".join(["b" * 40] * 5) + ".org",
    "example.org>",
    "<example.org",
    "example.org ",
    "",
    "onion.onion",
    "home.arpa",
]
EXTRAS = [
    "",
    "   ",
    "ann@example.org\n",
    "ann@exa\rmple.org",
    "ann@exa\x00mple.org",
    "  ann@example.org  ",
    "\tann@example.org",
    "ann@example.org@example.org",
    "Ann Lee <ann@example.org>",
    "<ann@example.org>",
    "ann＠example.org",
    "ann﹫example.org",
    "ann",
    "@example.org",
    "ann@",
    "ann@example.org\ufffd",
    "ann@@example.org",
    "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".org",
    "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 59 + ".org",
]


def _answer(check: object, raw: str) -> tuple[str, str]:
    try:
        return ("ok", check(raw))  # type: ignore[operator]
    except InvalidAddress as exc:
        return ("refused", str(exc))


def _corpus() -> list[str]:
    addresses = [f"{local}@{domain}" for local, domain in itertools.product(LOCALS, DOMAINS)]
    rng = random.Random(14)
    alphabet = "aZ9.-_+@\"' <>[]()\\,;:é\u0301ｅ\t"
    for base in rng.sample(addresses, 300):
        chars = list(base)
        for _ in range(rng.randint(1, 3)):
            chars.insert(rng.randrange(len(chars) + 1), rng.choice(alphabet))
        addresses.append("".join(chars))
    return addresses + EXTRAS


def test_the_fast_normaliser_agrees_with_email_validator_on_every_address() -> None:
    fast = AddressNormaliser()
    corpus = _corpus()
    answers = [(raw, _answer(fast, raw), _answer(normalise_email, raw)) for raw in corpus]
    assert [a for a in answers if a[1] != a[2]] == []
    outcomes = {a[1][0] for a in answers}
    assert outcomes == {"ok", "refused"}  # the corpus holds both kinds
    # Asked again (every domain now cached), still the same answers.
    assert [_answer(fast, raw) for raw in corpus] == [a[2] for a in answers]


def test_a_full_domain_cache_is_emptied_rather_than_grown() -> None:
    fast = AddressNormaliser(max_domains=3)
    for n in range(10):
        assert fast(f"ann@example{n}.org") == f"ann@example{n}.org"
    assert len(fast._domains) <= 3


@pytest.mark.parametrize("raw", ["Ann@Example.ORG", "INFO@example.org", "a+b@münchen.de"])
def test_addresses_come_out_in_one_normal_form(raw: str) -> None:
    assert AddressNormaliser()(raw) == normalise_email(raw) == raw.lower()
