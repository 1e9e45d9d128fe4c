"""The SMTP transport against a real SMTP server (aiosmtpd on 127.0.0.1) that fails on purpose."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import email
import email.policy
import ssl
from pathlib import Path

import dkim
import pytest
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.dkim import DkimSigner
from newsletter.delivery.ledger_tables import DeliveryStatus
from newsletter.delivery.links import Links
from newsletter.delivery.message import OutboundMessage
from newsletter.delivery.personalise import MessageTemplate
from newsletter.delivery.prepare import PreparedEdition, prepare_edition
from newsletter.delivery.send_loop import Sender
from newsletter.delivery.transports.base import Outcome, SendResult
from newsletter.delivery.transports.smtp import SmtpTransport, SmtpUrl
from newsletter.edition.digest import Digest
from newsletter.edition.render import Renderer
from newsletter.errors import ConfigError, PermanentFailure, TemporaryFailure
from subscribers import Consent, Status
from tests.support.smtp_server import Faults, SmtpServer


def template() -> MessageTemplate:
    return MessageTemplate(
        subject="Weekly",
        text="Hello __nl_slot_name__\nLeave: __nl_slot_unsubscribe_url__\n",
        html_body='<p>Hello __nl_slot_name__</p><a href="__nl_slot_unsubscribe_url__">leave</a>',
        from_header="News <news@example.org>",
        list_id_header="News <news.example.org>",
        feedback_id="e1:news:newsletter:example.org",
        date="Mon, 11 Jul 2011 07:00:00 +0000",
    )


def outbound(i: int, address: str | None = None) -> OutboundMessage:
    return OutboundMessage(
        subscriber_id=i,
        email=address or f"reader{i}@example.net",
        name=f"Reader {i}",
        message_id=f"<k.e1.s{i}@example.org>",
        envelope_from=f"bounces+e1-s{i}-0123456789@example.org",
        unsubscribe_url=f"https://news.example.org/u/t{i}",
        unsubscribe_mailto="mailto:u@example.org",
        ref=f"e1-s{i}-0123456789",
    )


def test_urls_carry_tls_mode_and_credentials_and_never_show_the_password() -> None:
    url = SmtpUrl.parse("smtp://mailer%40example.org:s%3Acret@relay.example.org:587?starttls=1")
    assert (url.host, url.port, url.starttls, url.implicit_tls) == ("relay.example.org", 587, True, False)
    assert (url.username, url.password) == ("mailer@example.org", "s:cret")
    assert "s:cret" not in str(url) and "s:cret" not in repr(url) and "s%3Acret" not in str(url)
    assert SmtpUrl.parse("smtps://relay.example.org").port == 465
    assert SmtpUrl.parse("smtp://127.0.0.1").port == 25
    for bad in ("http://relay", "smtp://", "smtps://relay?starttls=1", "smtp://relay:99999"):
        with pytest.raises(ConfigError):
            SmtpUrl.parse(bad)


def test_many_messages_go_over_few_connections_each_with_its_own_envelope_sender() -> None:
    with SmtpServer() as server:
        transport = SmtpTransport(server.url, concurrency=3)
        results = transport.send(template(), [outbound(i) for i in range(60)])
        transport.close()
    assert sorted(r.subscriber_id for r in results) == list(range(60))
    assert all(r.outcome is Outcome.accepted and r.provider_id.startswith("Q") for r in results)
    assert transport.connections_opened == server.handler.connections <= 3  # one per worker at most
    by_rcpt = {m.rcpt_tos[0]: m for m in server.messages}
    assert by_rcpt["reader7@example.net"].mail_from == "bounces+e1-s7-0123456789@example.org"
    parsed = email.message_from_bytes(by_rcpt["reader7@example.net"].content, policy=email.policy.default)
    assert parsed["Message-ID"] == "<k.e1.s7@example.org>"
    assert "Reader 7" in parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-command-at-a-time", "pipelining"])
def test_replies_become_outcomes_and_dropped_connections_are_reopened(pipelining: bool) -> None:
    faults = Faults(
        rcpt_temporary=0.1,
        data_temporary=0.1,
        drop_at_data=0.05,
        seed=3,
        permanent=lambda a: a.startswith("gone"),
        pipelining=pipelining,
    )
    messages = [outbound(i, f"gone{i}@example.net" if i % 10 == 0 else None) for i in range(300)]
    with SmtpServer(faults) as server:
        transport = SmtpTransport(server.url, concurrency=4)
        results = transport.send(template(), messages)
        transport.close()
    by_outcome = collections.Counter(r.outcome for r in results)
    assert len(results) == 300
    assert by_outcome[Outcome.permanent] == 30
    assert all(
        r.code == 550 and "no such user" in r.detail for r in results if r.outcome is Outcome.permanent
    )
    assert {r.code for r in results if r.outcome is Outcome.temporary} <= {451, 452, None}
    assert by_outcome[Outcome.accepted] == sum(server.received.values()) == len(server.received)
    assert server.handler.drops > 0 and transport.connections_opened > 4


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-command-at-a-time", "pipelining"])
def test_a_server_that_stalls_says_421_or_speaks_garbage_costs_connections_not_messages(
    pipelining: bool,
) -> None:
    faults = Faults(stall_every_mail=60, closing_every_rcpt=30, garbage_every_data=30, pipelining=pipelining)
    with SmtpServer(faults) as server:
        transport = SmtpTransport(server.url, concurrency=3, timeout=0.5)
        results = transport.send(template(), [outbound(i) for i in range(200)])
        transport.close()
    assert sorted(r.subscriber_id for r in results) == list(range(200))  # one result each
    by_outcome = collections.Counter(r.outcome for r in results)
    assert by_outcome[Outcome.accepted] == len(server.received) == sum(server.received.values())
    assert by_outcome[Outcome.permanent] == 0
    handler = server.handler
    # 200 messages make far more than 60 of each command, so each fault strikes, in every run
    assert handler.stalls > 0 and handler.refused[421] > 0 and handler.refused[0] > 0
    assert {r.code for r in results if r.outcome is Outcome.temporary} <= {421, None}
    assert transport.connections_opened >= 3 + handler.refused[421]  # each 421 cost its connection


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-command-at-a-time", "pipelining"])
def test_a_refused_recipient_does_not_hold_up_the_messages_behind_it(pipelining: bool) -> None:
    faults = Faults(permanent=lambda a: a.startswith("gone"), pipelining=pipelining)
    messages = [outbound(1, "gone1@example.net"), outbound(2), outbound(3, "gone3@example.net"), outbound(4)]
    with SmtpServer(faults) as server:
        transport = SmtpTransport(server.url, concurrency=1)
        first = transport.send(template(), messages)
        second = transport.send(template(), [outbound(5)])  # the same connection, after a RSET
        transport.close()
    assert [(r.subscriber_id, r.outcome) for r in first] == [
        (1, Outcome.permanent),
        (2, Outcome.accepted),
        (3, Outcome.permanent),
        (4, Outcome.accepted),
    ]
    assert second[0].outcome is Outcome.accepted
    assert len(server.received) == 3 and transport.connections_opened == 1


def test_an_unreachable_server_is_a_temporary_failure_of_the_batch() -> None:
    with SmtpServer() as server:
        url = server.url
    transport = SmtpTransport(url, concurrency=2, timeout=2)
    with pytest.raises(TemporaryFailure, match=r"cannot reach the SMTP server smtp://127\.0\.0\.1"):
        transport.send(template(), [outbound(i) for i in range(5)])
    transport.close()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # a test server, no TLS
def test_login_works_and_a_refused_login_stops_without_showing_the_password() -> None:
    def authenticator(
        server: object, session: object, envelope: object, mechanism: str, data: object
    ) -> AuthResult:
        ok = getattr(data, "login", b"") == b"mailer" and getattr(data, "password", b"") == b"right"
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd sends the 535 itself

    with SmtpServer(auth_required=True, auth_require_tls=False, authenticator=authenticator) as server:
        good = SmtpTransport(f"smtp://mailer:right@127.0.0.1:{server.port}", concurrency=1)
        assert good.send(template(), [outbound(1)])[0].outcome is Outcome.accepted
        good.close()
        bad = SmtpTransport(f"smtp://mailer:wrong-secret@127.0.0.1:{server.port}", concurrency=1, timeout=5)
        with pytest.raises(PermanentFailure, match="refused the login: 535") as refused:
            bad.send(template(), [outbound(2)])
        bad.close()
    assert "wrong-secret" not in str(refused.value)


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_starttls_is_used_when_asked_and_the_certificate_is_checked(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    with SmtpServer(tls_context=server_tls, require_starttls=True) as server:
        trusting = ssl.create_default_context(cafile=str(cert))
        plain = SmtpTransport(server.url, concurrency=1)
        assert plain.send(template(), [outbound(1)])[0].outcome is Outcome.temporary  # 530 before STARTTLS
        plain.close()
        tls = SmtpTransport(server.url + "?starttls=1", concurrency=1, tls_context=trusting)
        assert tls.send(template(), [outbound(2)])[0].outcome is Outcome.accepted
        tls.close()
        untrusting = SmtpTransport(server.url + "?starttls=1", concurrency=1)
        with pytest.raises(PermanentFailure, match=r"TLS with smtp://127\.0\.0\.1"):
            untrusting.send(template(), [outbound(3)])
        untrusting.close()
    assert [m.rcpt_tos for m in server.messages] == [("reader2@example.net",)]


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-command-at-a-time", "pipelining"])
def test_many_messages_over_tls_connections_arrive_whole(tmp_path: Path, pipelining: bool) -> None:
    cert, key = _certificate(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    faults = Faults(pipelining=pipelining)
    with SmtpServer(faults, tls_context=server_tls, require_starttls=True) as server:
        trusting = ssl.create_default_context(cafile=str(cert))
        transport = SmtpTransport(server.url + "?starttls=1", concurrency=2, tls_context=trusting)
        results = transport.send(template(), [outbound(i) for i in range(60)])
        transport.close()
    assert all(r.outcome is Outcome.accepted for r in results) and len(results) == 60
    assert sorted(server.received) == sorted(f"<k.e1.s{i}@example.org>" for i in range(60))
    assert transport.connections_opened == 2
    for message in server.messages:  # every byte through TLS, dot-stuffing undone by the server
        parsed = email.message_from_bytes(message.content, policy=email.policy.default)
        assert parsed.get_body(("plain",)).get_content().startswith("Hello Reader")  # type: ignore[union-attr]


def test_smtps_is_tls_from_the_first_byte(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    with SmtpServer(Faults(pipelining=True), implicit_tls=server_tls) as server:
        assert server.url.startswith("smtps://")
        trusting = ssl.create_default_context(cafile=str(cert))
        transport = SmtpTransport(server.url, concurrency=2, tls_context=trusting)
        results = transport.send(template(), [outbound(i) for i in range(20)])
        transport.close()
        untrusting = SmtpTransport(server.url, concurrency=1, timeout=5)
        with pytest.raises(PermanentFailure, match=r"TLS with smtps://127\.0\.0\.1"):
            untrusting.send(template(), [outbound(99)])
        untrusting.close()
    assert all(r.outcome is Outcome.accepted for r in results) and len(server.received) == 20


def test_a_message_that_cannot_be_built_fails_alone() -> None:
    with SmtpServer() as server:
        transport = SmtpTransport(server.url, concurrency=2)
        # A lone surrogate (a broken row from some import) cannot be encoded as UTF-8.
        unbuildable = dataclasses.replace(outbound(2), name="Broken \ud800 name")
        results = transport.send(template(), [outbound(1), unbuildable, outbound(3)])
        transport.close()
    by_id = {r.subscriber_id: r for r in results}
    assert by_id[2].outcome is Outcome.permanent and "cannot build the message" in by_id[2].detail
    assert by_id[1].outcome is by_id[3].outcome is Outcome.accepted


def test_international_addresses_go_out_with_smtputf8_when_the_server_offers_it() -> None:
    address = "lé@example.net"
    with SmtpServer() as server:
        transport = SmtpTransport(server.url, concurrency=1)
        result = transport.send(template(), [outbound(1, address)])[0]
        transport.close()
    assert result.outcome is Outcome.permanent and "SMTPUTF8" in result.detail
    with SmtpServer(enable_SMTPUTF8=True) as server:
        transport = SmtpTransport(server.url, concurrency=1)
        assert transport.send(template(), [outbound(1, address)])[0].outcome is Outcome.accepted
        transport.close()


def test_dkim_signed_messages_arrive_verifiable() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = DkimSigner(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        "s1",
        "example.org",
    )
    record = signer.public_dns_record()
    with SmtpServer() as server:
        transport = SmtpTransport(server.url, concurrency=2, signer=signer)
        transport.send(template(), [outbound(i) for i in range(10)])
        transport.close()
    assert len(server.messages) == 10
    for message in server.messages:
        assert dkim.verify(message.content, dnsfunc=lambda name, timeout=5: record)


# -- the send loop over SMTP: the ledger matches what the server received -------------------------------


def _prepare(database: Database, settings: Settings, digest: Digest, count: int) -> PreparedEdition:
    rows = [(f"reader{i}@example.org", f"Reader {i}") for i in range(count)]
    database.store.add_many(rows, status=Status.confirmed, consent=Consent("test"))
    return prepare_edition(digest, Renderer(settings.templates_dir), database.ledger, settings)


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-command-at-a-time", "pipelining"])
def test_under_faults_every_message_is_delivered_or_recorded_and_the_ledger_matches_the_server(
    database: Database, settings: Settings, sample_digest: Digest, pipelining: bool
) -> None:
    settings = settings.replace(
        batch_size=50,
        retry_delay=0.01,
        retry_max_delay=0.02,
        # ~28% of attempts fail at random and four connections draw in no fixed order: with 6 retries an
        # ordinary reader ran out of them in ~2.5% of runs (0.28**7 x 189). With 15 that is ~1e-6.
        max_retries=15,
        error_threshold=1.0,
        smtp_concurrency=4,
    )
    prepared = _prepare(database, settings, sample_digest, 200)
    faults = Faults(
        rcpt_temporary=0.15,
        data_temporary=0.1,
        drop_at_data=0.05,
        seed=11,
        permanent=lambda a: a.startswith("reader1") and len(a) == len("reader1x@example.org"),
        always_temporary=lambda a: a == "reader42@example.org",
        pipelining=pipelining,
    )
    bounced: list[SendResult] = []
    with SmtpServer(faults, keep_content=False) as server:
        transport = SmtpTransport.from_settings(settings.replace(smtp_url=server.url))
        summary = Sender(
            settings=settings,
            store=database.store,
            ledger=database.ledger,
            transport=transport,
            links=Links(settings),
            on_permanent=lambda e, r: bounced.append(r),
        ).send(prepared)
        transport.close()
    counts = database.ledger.counts(prepared.edition.id)
    assert counts[DeliveryStatus.bounced] == 10 == summary.bounced == len(bounced)  # reader10..reader19
    assert counts[DeliveryStatus.failed] == 1 == summary.failed
    assert counts[DeliveryStatus.accepted] == 189 == len(server.received) == summary.accepted
    assert set(server.received.values()) == {1}  # nobody twice
    assert counts[DeliveryStatus.deferred] == counts[DeliveryStatus.sending] == 0
    assert summary.retried > 0 and summary.status == "sent" and not summary.stopped
    assert all(r.code == 550 for r in bounced)


def test_test_sends_go_through_smtp_outside_the_ledger(
    database: Database, settings: Settings, sample_digest: Digest
) -> None:
    prepared = _prepare(database, settings, sample_digest, 3)
    with SmtpServer() as server:
        transport = SmtpTransport(server.url, concurrency=2)
        sender = Sender(
            settings=settings,
            store=database.store,
            ledger=database.ledger,
            transport=transport,
            links=Links(settings),
        )
        results = sender.send_test(prepared, ["reader1@example.org", "editor@example.net"])
        sender.close()
    assert [r.outcome for r in results] == [Outcome.accepted, Outcome.accepted]
    assert sorted(m.rcpt_tos[0] for m in server.messages) == ["editor@example.net", "reader1@example.org"]
    assert all(".test.e" in m.message_id for m in server.messages)
    assert database.ledger.counts(prepared.edition.id)[DeliveryStatus.accepted] == 0
