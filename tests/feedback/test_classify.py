"""The reason rules, case by case from the vendors' published bounce texts, and what is not a bounce."""

from __future__ import annotations

import pytest

from newsletter.feedback.classify import classify, find_status
from newsletter.feedback.dsn import parse_report
from newsletter.feedback.reasons import REASONS, Action, Fault
from tests.support.feedback_helpers import dsn, plain

# (who says it, Status field, the reply text, the reason). Texts as the vendors document or send them.
VENDOR_REPLIES = [
    # Gmail
    (
        "gmail",
        "5.1.1",
        "550-5.1.1 The email account that you tried to reach does not exist. Please try "
        "double-checking the recipient's email address for typos or unnecessary spaces. "
        "https://support.google.com/mail/?p=NoSuchUser",
        "userunknown",
    ),
    (
        "gmail",
        "5.2.1",
        "550-5.2.1 The email account that you tried to reach is disabled. "
        "https://support.google.com/mail/?p=DisabledUser",
        "suspend",
    ),
    (
        "gmail",
        "5.2.2",
        "552-5.2.2 The recipient's inbox is out of storage space. "
        "https://support.google.com/mail/?p=OverQuotaPerm",
        "mailboxfull",
    ),
    (
        "gmail",
        "",
        "550-5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail "
        "requires all senders to authenticate with either SPF or DKIM.",
        "authfailure",
    ),
    (
        "gmail",
        "",
        "550-5.7.26 Unauthenticated email from example.org is not accepted due to domain's DMARC policy.",
        "authfailure",
    ),
    (
        "gmail",
        "",
        "550-5.7.25 The IP address sending this message does not have a PTR record setup, or "
        "the corresponding forward DNS entry does not point to the sending IP.",
        "requireptr",
    ),
    (
        "gmail",
        "",
        "550-5.7.1 Our system has detected that this message is likely unsolicited mail. To "
        "reduce the amount of spam sent to Gmail, this message has been blocked.",
        "spamdetected",
    ),
    (
        "gmail",
        "",
        "421-4.7.28 Our system has detected an unusual rate of unsolicited mail originating "
        "from your DKIM domain.",
        "badreputation",
    ),
    (
        "gmail",
        "",
        "550-5.7.1 [192.0.2.1] Our system has detected that this message is not RFC 5322 "
        "compliant: Multiple 'From' headers found.",
        "notcompliantrfc",
    ),
    ("gmail", "", "552-5.3.4 Your message exceeded Google's message size limits.", "mesgtoobig"),
    (
        "gmail",
        "",
        "450-4.2.1 The user you are trying to contact is receiving mail at a rate that "
        "prevents additional messages from being delivered. https://support.google.com/mail/?p=ReceivingRate",
        "speeding",
    ),
    (
        "gmail",
        "",
        "552-5.7.0 This message was blocked because its content presents a potential "
        "security issue. https://support.google.com/mail/?p=BlockedMessage",
        "securityerror",
    ),
    ("gmail", "", "DNS Error: Domain name not found", "hostunknown"),
    # Microsoft (Exchange Online, Outlook.com)
    (
        "microsoft",
        "5.1.10",
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        "userunknown",
    ),
    ("microsoft", "5.1.1", "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found", "userunknown"),
    (
        "microsoft",
        "",
        "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [DM6NAM11.prod]",
        "userunknown",
    ),
    (
        "microsoft",
        "",
        "550 5.7.509 Access denied, sending domain example.org does not pass DMARC "
        "verification and has a DMARC policy of reject.",
        "authfailure",
    ),
    (
        "microsoft",
        "",
        "550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please contact "
        "your Internet service provider since part of their network is on our block list (S3150).",
        "blocked",
    ),
    ("microsoft", "", "550 5.7.606 Access denied, banned sending IP [192.0.2.1].", "blocked"),
    (
        "microsoft",
        "",
        "451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation.",
        "badreputation",
    ),
    ("microsoft", "", "550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized", "filtered"),
    (
        "microsoft",
        "",
        "552 5.2.3 RESOLVER.RST.RecipSizeLimit; message too large for this recipient",
        "exceedlimit",
    ),
    ("microsoft", "", "550 5.4.14 Hop count exceeded - possible mail loop", "networkerror"),
    ("microsoft", "", "550 5.2.2 mailbox full", "mailboxfull"),
    ("exchange", "5.7.1", "#550 5.7.1 RESOLVER.RST.AuthRequired; authentication required ##", "filtered"),
    ("exchange", "", "550 5.7.64 TenantAttribution; Relay Access Denied", "norelaying"),
    ("exchange", "", "550 5.2.1 Mailbox unavailable. Mailbox disabled", "suspend"),
    (
        "exchange",
        "",
        "554 5.2.0 STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded",
        "mailboxfull",
    ),
    # Yahoo / AOL
    (
        "yahoo",
        "",
        "554 delivery error: dd This user doesn't have a yahoo.com account "
        "(someone@yahoo.com) [0] - mta1.mail.example.yahoo.com",
        "userunknown",
    ),
    ("yahoo", "", "552 1 Requested mail action aborted, mailbox not found", "userunknown"),
    (
        "yahoo",
        "",
        "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected "
        "volume or user complaints - 4.16.55.1",
        "badreputation",
    ),
    (
        "yahoo",
        "",
        "553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.1, because the ip is "
        "in Spamhaus's list",
        "blocked",
    ),
    ("yahoo", "", "554 5.7.9 Message not accepted for policy reasons.", "policyviolation"),
    (
        "yahoo",
        "",
        "554 30 Sorry, your message to someone@yahoo.com cannot be delivered. This mailbox is "
        "disabled (554.30)",
        "suspend",
    ),
    # Apple iCloud
    ("icloud", "", "550 5.1.1 <someone@icloud.com>: user does not exist", "userunknown"),
    ("icloud", "", "552 5.2.2 <someone@icloud.com>: user is over quota", "mailboxfull"),
    ("icloud", "", "554 5.7.1 [CS01] Message rejected due to local policy.", "policyviolation"),
    # Proofpoint, Mimecast, Barracuda
    ("proofpoint", "", "554 5.7.1 Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.1", "blocked"),
    ("proofpoint", "", "550 5.7.1 Message rejected as spam by Content Filtering.", "spamdetected"),
    (
        "mimecast",
        "",
        "550 Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550",
        "userunknown",
    ),
    (
        "mimecast",
        "",
        "550 Envelope blocked - User Entry - https://community.mimecast.com/docs/DOC-1369",
        "filtered",
    ),
    (
        "mimecast",
        "",
        "554 Email rejected due to security policies - https://community.mimecast.com/docs/DOC-1369#554",
        "policyviolation",
    ),
    (
        "mimecast",
        "",
        "451 Open relay not allowed - https://community.mimecast.com/docs/DOC-1369#451",
        "norelaying",
    ),
    (
        "barracuda",
        "",
        "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using "
        "Barracuda Reputation; http://www.barracudanetworks.com/reputation/?r=1&ip=192.0.2.1",
        "blocked",
    ),
    # Postfix
    (
        "postfix",
        "5.0.0",
        "550 5.1.1 <someone@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
        "userunknown",
    ),
    ("postfix", "", "554 5.7.1 <someone@example.com>: Relay access denied", "norelaying"),
    ("postfix", "", "450 4.1.8 <news@example.org>: Sender address rejected: Domain not found", "rejected"),
    (
        "postfix",
        "",
        "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
        "blocked",
    ),
    ("postfix", "", "450 4.7.1 Client host rejected: cannot find your hostname, [192.0.2.1]", "requireptr"),
    (
        "postfix",
        "5.4.4",
        "Host or domain name not found. Name service error for name=example.invalid type=A: Host not found",
        "hostunknown",
    ),
    ("postfix", "4.4.1", "connect to mx.example.com[192.0.2.1]:25: Connection timed out", "networkerror"),
    ("postfix", "5.3.0", "x-unix; procmail: Error while writing to /var/mail/someone", "mailererror"),
    ("postfix", "", "452 4.3.1 Insufficient system storage", "systemfull"),
    # Exim
    ("exim", "", "Unrouteable address", "userunknown"),
    ("exim", "", "retry timeout exceeded", "expired"),
    ("exim", "", "all relevant MX records point to non-existent hosts", "hostunknown"),
    ("exim", "", "550 Administrative prohibition", "policyviolation"),
    # Sendmail
    ("sendmail", "5.1.1", "550 5.1.1 <someone@example.com>... User unknown", "userunknown"),
    ("sendmail", "4.4.7", "Cannot send message for 5 days", "expired"),
    ("sendmail", "", "553 5.3.0 <someone@example.com>... Spamming not allowed", "spamdetected"),
    ("sendmail", "", "552 5.2.2 <someone@example.com>... Mailbox full", "mailboxfull"),
    # qmail
    ("qmail", "", "Sorry, no mailbox here by that name. (#5.1.1)", "userunknown"),
    ("qmail", "", "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)", "userunknown"),
    ("qmail", "", "Sorry, I couldn't find any host named example.invalid. (#5.1.2)", "hostunknown"),
    (
        "qmail",
        "",
        "Sorry. Although I'm listed as a best-preference MX or A for that host, it isn't in "
        "my control/locals file, so I don't treat it as local. (#5.4.6)",
        "networkerror",
    ),
    # Amazon SES, SendGrid, Mailgun
    (
        "ses",
        "5.1.1",
        "Amazon SES has suppressed sending to this address because it has a recent history "
        "of bouncing as an invalid address.",
        "userunknown",
    ),
    ("ses", "", "554 Message rejected: Email address is not verified.", "rejected"),
    (
        "sendgrid",
        "",
        "550 5.7.1 Unauthenticated email from example.org is not accepted due to domain's DMARC policy",
        "authfailure",
    ),
    (
        "mailgun",
        "",
        "550 5.7.1 The sending IP is listed on spamhaus.org; please contact your provider",
        "blocked",
    ),
    ("mailgun", "", "Not delivering to previously bounced address", "userunknown"),
    # The code alone
    ("any", "5.1.2", "", "hostunknown"),
    ("any", "5.1.6", "", "hasmoved"),
    ("any", "5.1.10", "", "notaccept"),
    ("any", "5.2.1", "", "suspend"),
    ("any", "5.3.0", "", "systemerror"),
    ("any", "5.6.0", "", "contenterror"),
    ("any", "5.7.1", "", "securityerror"),
    ("any", "5.4.7", "", "expired"),
    ("any", "5.0.0", "", "undefined"),
    ("any", "", "552 Requested mail action aborted: exceeded storage allocation", "mailboxfull"),
    (
        "any",
        "",
        "550 Requested action not taken: mailbox unavailable (in reply to RCPT TO command)",
        "userunknown",
    ),
]


@pytest.mark.parametrize(
    ("vendor", "status", "reply", "reason"), VENDOR_REPLIES, ids=[f"{c[0]}-{c[3]}" for c in VENDOR_REPLIES]
)
def test_vendor_replies_get_their_reason(vendor: str, status: str, reply: str, reason: str) -> None:
    assert classify(status, reply).reason == reason, (vendor, reply)


def test_the_failures_that_used_to_be_called_unknown_user() -> None:
    """The issue's four: none of them is the reader's fault, so none suppresses at once."""
    cases = {
        "550 5.7.26 Unauthenticated email is not accepted due to domain's DMARC policy": "authfailure",
        "550 5.3.0 mailer error": "mailererror",
        "550 5.7.1 Message content rejected": "contenterror",
        "550 5.2.1 mailbox disabled": "suspend",
    }
    for reply, reason in cases.items():
        verdict = classify("", reply)
        assert verdict.reason == reason and verdict.action is not Action.suppress, reply


def test_whose_fault_and_what_happens() -> None:
    unknown = classify("5.1.1", "user unknown")
    assert (unknown.kind, unknown.fault, unknown.action) == ("hard", Fault.recipient, Action.suppress)
    full = classify("5.2.2", "mailbox full")
    assert (full.kind, full.fault, full.action) == ("soft", Fault.recipient, Action.soft)
    dmarc = classify("5.7.26", "")
    assert (dmarc.kind, dmarc.fault, dmarc.action) == ("soft", Fault.sender, Action.sender)
    late = classify("4.4.7", "")
    assert (late.kind, late.fault, late.action) == ("soft", Fault.network, Action.record)


def test_every_reason_has_one_party_and_one_action() -> None:
    assert len(REASONS) == 34  # sisimai's 31 failure reasons, plus feedback, vacation, delivered
    for entry in REASONS.values():
        assert entry.meaning and entry.fault in Fault and entry.action in Action
    assert {
        n for n, e in REASONS.items() if e.fault is Fault.sender and e.action is not Action.sender
    } == set()


def test_a_decisive_code_beats_the_words_and_the_words_beat_a_vague_code() -> None:
    assert classify("5.2.2", "user unknown").reason == "mailboxfull"
    assert classify("5.0.0", "550 User unknown").reason == "userunknown"
    assert classify("", "550 5.7.1 Unknown user").reason == "userunknown"


def test_delay_notices_are_soft_and_change_nothing_whatever_they_say() -> None:
    verdict = classify("5.1.1", "user unknown", temporary=True)
    assert verdict.kind == "soft" and verdict.action is Action.record
    assert classify("4.2.2", "mailbox full").action is Action.record


def test_status_codes_are_found_in_smtp_replies() -> None:
    assert find_status("smtp; 550 5.1.1 <a@b>: Recipient address rejected") == "5.1.1"
    assert find_status("550 5.0.0 see 5.7.26 below") == "5.7.26"  # the specific code, not the generic
    assert find_status("552 Requested mail action aborted: exceeded storage allocation") == "5.0.0"
    assert find_status("451 try again") == "4.0.0"
    assert find_status("version 1.2.3.4 released") == ""
    assert find_status("Postfix v2.5.1 said") == ""


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
        assert report.kind == "auto-reply" and report.method == "auto-reply", report
        assert [(f.kind, f.reason) for f in report.failures] == [("auto-reply", "vacation")]


def test_a_delivered_only_dsn_is_a_delivery_report() -> None:
    raw = dsn(
        to="bounces@example.org",
        recipient="a@example.com",
        status="2.0.0",
        action="delivered",
        diagnostic="smtp; 250 ok",
    )
    report = parse_report(raw)
    assert report.kind == "delivered"
    assert [(f.recipient, f.kind, f.reason, f.status) for f in report.failures] == [
        ("a@example.com", "delivered", "delivered", "2.0.0")
    ]


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
    assert failure.reason == "networkerror" and failure.action == "record"
