"""The hard/soft rules table, and what is not a bounce at all."""

from __future__ import annotations

import pytest

from newsletter.feedback.classify import classify, find_status
from newsletter.feedback.dsn import parse_report
from tests.support.feedback_helpers import dsn, plain


@pytest.mark.parametrize(
    ("status", "diagnostic", "kind", "reason"),
    [
        ("5.1.1", "", "hard", "unknown user"),
        ("5.1.2", "", "hard", "unknown domain"),
        ("5.1.6", "", "hard", "mailbox moved"),
        ("5.2.1", "mailbox disabled", "hard", "mailbox disabled"),
        ("5.2.2", "user unknown", "soft", "mailbox full"),  # a decisive code beats the words
        ("5.0.0", "550 User unknown", "hard", "unknown user"),
        ("", "550 5.7.1 Unknown user", "hard", "unknown user"),  # the words beat a policy class
        ("5.7.1", "Message rejected as spam", "soft", "blocked or filtered"),
        ("5.4.7", "", "soft", "delivery time expired"),
        ("4.2.2", "mailbox full", "soft", "mailbox full"),
        ("4.1.1", "user unknown", "soft", "temporary failure (unknown user)"),  # temporary is never hard
        ("5.0.0", "", "soft", "unexplained failure"),  # unexplained permanent failures are soft
        ("", "421 too many connections, try later", "soft", "rate limited"),
        ("5.3.4", "message too big", "soft", "message too large"),
        ("", "host not found", "hard", "unknown domain"),
        ("", "account has been disabled", "hard", "mailbox disabled"),
    ],
)
def test_rules_table(status: str, diagnostic: str, kind: str, reason: str) -> None:
    verdict = classify(status, diagnostic)
    assert (verdict.kind, verdict.reason) == (kind, reason)


def test_delay_notices_are_soft_whatever_they_say() -> None:
    assert classify("5.1.1", "user unknown", temporary=True).kind == "soft"


def test_status_codes_are_found_in_smtp_replies() -> None:
    assert find_status("smtp; 550 5.1.1 <a@b>: Recipient address rejected") == "5.1.1"
    assert find_status("552 Requested mail action aborted: exceeded storage allocation") == "5.2.2"
    assert find_status("451 try again") == "4.0.0"
    assert find_status("version 1.2.3.4 released") == ""


def test_vacation_and_auto_replies_are_not_bounces() -> None:
    for raw in (
        plain("Out of Office: back on Monday", to="bounces@example.org"),
        plain("Automatic reply: Newsletter", to="bounces@example.org"),
        plain("Re: the newsletter", to="bounces@example.org", Auto_Submitted="auto-replied"),
        plain("Vacation", to="bounces@example.org", sender="someone@example.net"),
        plain(
            "Je suis absent",
            to="bounces@example.org",
            Auto_Submitted="auto-replied",
            Return_Path="<>",
            X_Autoreply="yes",
        ),
    ):
        report = parse_report(raw)
        assert report.kind == "none" and report.method == "auto-reply", report


def test_a_delivered_only_dsn_is_not_a_bounce() -> None:
    raw = dsn(
        to="bounces@example.org",
        recipient="a@example.com",
        status="2.0.0",
        action="delivered",
        diagnostic="smtp; 250 ok",
    )
    assert parse_report(raw).kind == "none"


def test_a_delay_dsn_is_temporary() -> None:
    raw = dsn(
        to="bounces@example.org",
        recipient="a@example.com",
        status="4.4.1",
        action="delayed",
        diagnostic="smtp; 451 4.4.1 no answer",
    )
    failure = parse_report(raw).failures[0]
    assert failure.temporary and failure.kind == "soft" and failure.status == "4.4.1"
