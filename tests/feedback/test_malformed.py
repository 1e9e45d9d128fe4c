"""Hostile and broken input: every parser either answers or refuses clearly, and nothing is changed."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import get_args

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from newsletter.config import Settings
from newsletter.database import open_database
from newsletter.delivery.links import Links
from newsletter.feedback.classify import classify
from newsletter.feedback.dsn import ReportKind, parse_report
from newsletter.feedback.events import BadSignature, MalformedFeedback, delivery_from_ref
from newsletter.feedback.inbox import InboxReader
from newsletter.feedback.sendgrid import WebhookVerifier, parse_events
from tests.conftest import TEST_SECRET, make_settings
from tests.support.feedback_corpora import CORPORA, FLUFL
from tests.support.feedback_helpers import dsn

LINKS = Links(Settings(secret_key=TEST_SECRET))
PUBLIC_KEY = json.loads((CORPORA / "sendgrid_eventwebhook_vector.json").read_text())["vectors"][0][
    "public_key"
]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def read_or_refuse(raw: bytes) -> None:
    try:
        report = parse_report(raw)
    except MalformedFeedback:
        return
    assert report.kind in get_args(ReportKind)


@FUZZ
@given(st.binary(max_size=4000))
def test_random_bytes_never_crash_the_report_parser(raw: bytes) -> None:
    read_or_refuse(raw)


@FUZZ
@given(st.binary(max_size=2000), st.integers(min_value=0, max_value=6000))
@example(b"", 3519)  # cut after a delivery status with no failures: a 'delivered' report, not an error
def test_mutated_real_bounces_never_crash_the_report_parser(noise: bytes, at: int) -> None:
    original = (FLUFL / "data" / "dsn_01.txt").read_bytes()
    read_or_refuse(original[:at] + noise + original[at:])
    read_or_refuse(original[:at])  # truncated anywhere


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bodies_never_crash_the_webhook_parser(body: bytes) -> None:
    try:
        events = parse_events(body)
    except MalformedFeedback:
        return
    assert all(isinstance(e, dict) for e in events)


@FUZZ
@given(st.text(max_size=300), st.text(max_size=1000), st.booleans())
def test_classify_answers_for_any_text(status: str, diagnostic: str, temporary: bool) -> None:
    assert classify(status, diagnostic, temporary=temporary).kind in ("hard", "soft")


@FUZZ
@given(st.text(max_size=120))
def test_refs_that_we_did_not_sign_find_nobody(ref: str) -> None:
    assert delivery_from_ref(LINKS, ref) is None


def test_truncated_mime_wrong_charsets_and_huge_headers() -> None:
    good = dsn(to="bounces@example.org", recipient="a@example.com")
    read_or_refuse(good[: len(good) // 2])  # cut in the middle of the report part
    lying = good.replace(b"charset=us-ascii", b"charset=x-no-such-charset")
    assert parse_report(lying).failures[0].recipient == "a@example.com"
    utf16 = good.replace(b"charset=us-ascii", b"charset=utf-16") + "é".encode("latin-1")
    read_or_refuse(utf16)
    huge = b"X-Huge: " + b"a" * 2_000_000 + b"\n" + good
    started = time.perf_counter()
    assert parse_report(huge).kind == "bounce"
    assert time.perf_counter() - started < 5
    many = b"".join(b"X-H%d: v\n" % i for i in range(50_000)) + good
    read_or_refuse(many)
    nested = (
        b"Content-Type: multipart/mixed; boundary=a\n\n"
        + b"--a\nContent-Type: multipart/mixed; boundary=a\n\n" * 3000
    )
    read_or_refuse(nested)


def test_input_that_is_not_a_message_is_refused_with_a_reason() -> None:
    for raw in (b"", b"\x00\x01\x02\x03", b"\xff" * 100, b"just some words without a header\n"):
        try:
            parse_report(raw)
        except MalformedFeedback as exc:
            assert "not an email message" in str(exc)
        else:
            raise AssertionError(f"{raw!r} was not refused")


@FUZZ
@given(st.binary(max_size=200), st.text(max_size=120), st.text(max_size=20))
@example(b"", "0", "\u00b2")  # "²".isdigit() is True, int("²") raises: found by this test
def test_random_signatures_and_timestamps_are_refused(body: bytes, signature: str, timestamp: str) -> None:
    verifier = WebhookVerifier(PUBLIC_KEY, max_age_seconds=600)
    try:
        verifier.verify(body, signature, timestamp)
    except BadSignature:
        return
    raise AssertionError("a random signature verified")


def test_random_mail_through_the_whole_inbox_reader(tmp_path: Path) -> None:
    """The reader that also looks into the ledger: random bytes and mutated reports, on a real database."""
    settings_ = make_settings(tmp_path, f"sqlite:///{tmp_path / 'fuzz.db'}")
    database = open_database(settings_, migrate=True)
    reader = InboxReader(Links(settings_), database.sessions)
    seed = (FLUFL / "data" / "dsn_01.txt").read_bytes()

    @FUZZ
    @given(st.binary(max_size=3000), st.integers(min_value=0, max_value=len(seed)))
    @example(b"\x0b", 2047)  # a vertical tab in List-Subscribe: email's generator refused to re-fold it
    def check(noise: bytes, at: int) -> None:
        for raw in (noise, seed[:at] + noise + seed[at:]):
            try:
                reading = reader.read(raw)
            except MalformedFeedback:
                continue
            assert reading.outcome in ("event", "ignored", "kept")
            assert not reading.events  # nothing random can carry a ref we signed

    try:
        check()
    finally:
        database.close()


def test_a_header_that_cannot_be_written_back_does_not_hide_a_ref_in_the_body(tmp_path: Path) -> None:
    """A bounce that pastes our original's headers into its text, and carries a header field with a
    vertical tab (which Python's email generator refuses to fold again), is still matched by the ref in
    its text: the reader searches the bytes as they came. Re-serialising it raised HeaderParseError."""
    settings_ = make_settings(tmp_path, f"sqlite:///{tmp_path / 'ref.db'}")
    database = open_database(settings_, migrate=True)
    try:
        links = Links(settings_)
        seed = (FLUFL / "data" / "dsn_01.txt").read_bytes()
        body_at = seed.index(b"\n\n") + 2
        pasted = f"X-Newsletter-Ref: {links.delivery_ref(7, 42)}\n\n".encode()
        raw = seed[:2047] + b"\x0b" + seed[2047:body_at] + pasted + seed[body_at:]
        reading = InboxReader(links, database.sessions).read(raw)
        assert reading.outcome == "event", reading.detail
        [event] = reading.events
        assert (event.edition_id, event.subscriber_id) == (7, 42)
        assert "X-Newsletter-Ref in text" in reading.detail
    finally:
        database.close()
