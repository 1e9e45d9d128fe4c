"""The SendGrid transport through the real client against the local v3 stand-in (tests/sendgrid_server.py)."""

from __future__ import annotations

import collections
import email
import email.policy
import html
import json
from collections.abc import Iterator

import pytest
import sendgrid
from hypothesis import given
from hypothesis import strategies as st
from python_http_client.exceptions import BadRequestsError, UnsupportedMediaTypeError

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.ledger_tables import DeliveryStatus
from newsletter.delivery.links import Links
from newsletter.delivery.message import OutboundMessage
from newsletter.delivery.personalise import NAME_FALLBACK, MessageTemplate
from newsletter.delivery.prepare import PreparedEdition, prepare_edition
from newsletter.delivery.send_loop import Sender
from newsletter.delivery.transports.base import Outcome
from newsletter.delivery.transports.sendgrid import EditionParts, SendGridTransport, personalization
from newsletter.edition.digest import Digest
from newsletter.edition.render import Renderer
from newsletter.edition.stored import EditionStatus
from newsletter.errors import ConfigError, PermanentFailure, TemporaryFailure
from subscribers import Consent, Status
from tests.support.sendgrid_server import SendGridStandIn

KEY = "SG.test-key"


@pytest.fixture
def stand_in() -> Iterator[SendGridStandIn]:
    with SendGridStandIn(KEY) as server:
        yield server


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def template() -> MessageTemplate:
    return MessageTemplate(
        subject="Weekly: Défections & more",
        text="Hello __nl_slot_name__,\nnews\nLeave: __nl_slot_unsubscribe_url__\n",
        html_body='<p>Hello __nl_slot_name__</p><a href="__nl_slot_unsubscribe_url__">leave</a>',
        from_header="Burma Partnership <news@example.org>",
        list_id_header="Burma Partnership <news.example.org>",
        feedback_id="e1:news:newsletter:example.org",
        date="Mon, 11 Jul 2011 07:00:00 +0000",
    )


def outbound(i: int, address: str | None = None, name: str | None = None) -> OutboundMessage:
    return OutboundMessage(
        subscriber_id=i,
        email=address or f"reader{i}@example.net",
        name=f"Reader {i}" if name is None else name,
        message_id=f"<k.e1.s{i}@example.org>",
        envelope_from=f"bounces+e1-s{i}-0123456789@example.org",
        unsubscribe_url=f"https://news.example.org/u/t{i}?a=1&b=2",
        unsubscribe_mailto="mailto:u@example.org",
        ref=f"e1-s{i}-0123456789",
    )


def transport(server: SendGridStandIn, sleeps: Sleeps | None = None, key: str = KEY) -> SendGridTransport:
    return SendGridTransport(key, server.url, sleep=sleeps if sleeps is not None else Sleeps())


def test_batches_hold_at_most_1000_recipients_in_list_order(stand_in: SendGridStandIn) -> None:
    sender = transport(stand_in)  # two requests in flight: they may arrive in either order
    results = sender.send(template(), [outbound(i) for i in range(2500)])
    assert sorted(stand_in.batch_sizes) == [500, 1000, 1000]
    by_request = {}
    for request in stand_in.received:
        ids = [int(p["custom_args"]["nl_ref"].split("-")[1][1:]) for p in request.body["personalizations"]]
        assert ids == list(range(ids[0], ids[0] + len(ids))) and ids[0] % 1000 == 0  # in list order
        by_request.update(dict.fromkeys(ids, request.message_id))
    assert sorted(by_request) == list(range(2500))
    assert all(r.outcome is Outcome.accepted for r in results)
    assert all(r.provider_id == by_request[r.subscriber_id] for r in results)


def test_requests_go_in_parallel_up_to_the_concurrency(stand_in: SendGridStandIn) -> None:
    stand_in.delay = 0.2
    sender = SendGridTransport(KEY, stand_in.url, concurrency=3)
    sender.send(template(), [outbound(i) for i in range(5000)])
    assert stand_in.max_parallel == 3 and len(stand_in.received) == 5


def test_the_stand_in_refuses_more_than_1000_personalizations_like_the_api(stand_in: SendGridStandIn) -> None:
    body = SendGridTransport(KEY, stand_in.url).body(
        EditionParts(template()), [outbound(i) for i in range(1001)]
    )
    with pytest.raises(BadRequestsError) as refused:
        sendgrid.SendGridAPIClient(KEY, host=stand_in.url).send(json.loads(body))
    assert "more than 1000" in json.loads(refused.value.body)["errors"][0]["message"]


def test_the_prepared_body_reaches_the_api_as_the_clients_own_post_would_send_it(
    stand_in: SendGridStandIn,
) -> None:
    sender = SendGridTransport(KEY, stand_in.url)
    body = sender.body(EditionParts(template()), [outbound(1), outbound(2, name='Zoë "<b>"')])
    sender._post_json(body)
    sendgrid.SendGridAPIClient(KEY, host=stand_in.url).send(json.loads(body))
    ours, clients = stand_in.received
    assert ours.body == clients.body
    for header in ("authorization", "content-type", "user-agent", "accept"):
        assert ours.headers[header] == clients.headers[header], header
    assert ours.headers["content-type"] == "application/json"


def test_the_stand_in_refuses_a_content_type_with_parameters_like_the_api(stand_in: SendGridStandIn) -> None:
    body = SendGridTransport(KEY, stand_in.url).body(EditionParts(template()), [outbound(1)])
    client = sendgrid.SendGridAPIClient(KEY, host=stand_in.url).client
    client.request_headers["Content-Type"] = "application/json; charset=utf-8"  # the client sends it as is
    with pytest.raises(UnsupportedMediaTypeError):
        client.mail.send.post(request_body=body.decode())
    assert stand_in.statuses[415] == 1 and not stand_in.received


TEXT = st.text(st.characters(codec="utf-8"), max_size=40)


@given(name=TEXT, local=TEXT, url=TEXT, mailto=TEXT, ref=TEXT)
def test_a_personalization_is_json_of_exactly_its_values_whatever_they_hold(
    name: str, local: str, url: str, mailto: str, ref: str
) -> None:
    message = OutboundMessage(
        subscriber_id=1,
        email=f"{local}@example.org",
        name=name,
        message_id="<m@example.org>",
        envelope_from="b@example.org",
        unsubscribe_url=url,
        unsubscribe_mailto=mailto,
        ref=ref,
    )
    shown = (name or NAME_FALLBACK).replace("%nl_", "% nl_")
    link = url.replace("%nl_", "% nl_")
    text = personalization(message)
    assert text.isascii()  # quotes, backslashes, controls and non-ASCII all escaped
    assert json.loads(text) == {
        "to": [{"email": message.email, "name": name} if name else {"email": message.email}],
        "substitutions": {
            "%nl_t_name%": shown,
            "%nl_t_unsub%": link,
            "%nl_h_name%": html.escape(shown),
            "%nl_h_unsub%": html.escape(link),
        },
        "headers": {
            "List-Unsubscribe": f"<{url}>, <{mailto}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Newsletter-Ref": ref,
        },
        "custom_args": {"nl_ref": ref},
    }


def test_each_recipient_sees_exactly_what_the_smtp_message_would_show(stand_in: SendGridStandIn) -> None:
    messages = [outbound(1), outbound(2, name='Zoë <b>"&</b>'), outbound(3, name="")]
    transport(stand_in).send(template(), [*messages, outbound(4, name="Mallory %nl_h_unsub%")])
    body = stand_in.received[0].body
    assert body["subject"] == "Weekly: Défections & more"
    assert body["from"] == {"email": "news@example.org", "name": "Burma Partnership"}
    assert body["headers"]["List-Id"] == "Burma Partnership <news.example.org>"
    assert body["tracking_settings"] == {"subscription_tracking": {"enable": False}}
    text, html_body = (c["value"] for c in body["content"])
    for message, p in zip(messages, body["personalizations"][:3], strict=True):
        assert p["headers"]["List-Unsubscribe"] == f"<{message.unsubscribe_url}>, <mailto:u@example.org>"
        assert p["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert p["custom_args"] == {"nl_ref": message.ref}  # signed: the webhook maps events back by it
        mine, theirs = text, html_body
        for key, value in p["substitutions"].items():  # what SendGrid does: plain replace in every part
            mine, theirs = mine.replace(key, value), theirs.replace(key, value)
        built = email.message_from_bytes(template().build(message), policy=email.policy.default)
        assert mine == built.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
        assert theirs == built.get_body(("html",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert (
        body["personalizations"][3]["substitutions"]["%nl_t_name%"] == "Mallory % nl_h_unsub%"
    )  # no key smuggled


def test_a_429_storm_waits_for_each_reset_then_delivers_once(stand_in: SendGridStandIn) -> None:
    sleeps = Sleeps()
    stand_in.plan(*[429] * 6)
    sender = transport(stand_in, sleeps)
    results = sender.send(template(), [outbound(i) for i in range(1500)])
    assert all(r.outcome is Outcome.accepted for r in results)
    assert len(sender.rate_limit_waits) == 6 and sleeps == sender.rate_limit_waits
    assert all(0 <= w <= 2.5 for w in sleeps)  # X-RateLimit-Reset is at most a second or two away
    assert stand_in.statuses == {429: 6, 202: 2}
    assert collections.Counter(stand_in.recipients()) == {f"reader{i}@example.net": 1 for i in range(1500)}


def test_server_errors_are_retried_then_fail_the_batch_temporarily(stand_in: SendGridStandIn) -> None:
    stand_in.plan(500, 503)
    assert all(r.outcome is Outcome.accepted for r in transport(stand_in).send(template(), [outbound(1)]))
    stand_in.plan(500, 502, 503)
    with pytest.raises(TemporaryFailure, match="SendGrid 503 internal error") as failed:
        transport(stand_in).send(template(), [outbound(i) for i in range(3)])
    assert failed.value.code == 503


def test_a_413_splits_the_batch_until_it_fits(stand_in: SendGridStandIn) -> None:
    stand_in.max_body = 60_000
    results = transport(stand_in).send(template(), [outbound(i) for i in range(1000)])
    assert all(r.outcome is Outcome.accepted for r in results) and len(results) == 1000
    assert (
        stand_in.statuses[413] > 0 and max(stand_in.batch_sizes) < 1000 and sum(stand_in.batch_sizes) == 1000
    )
    assert stand_in.recipients() == [f"reader{i}@example.net" for i in range(1000)]
    stand_in.max_body = 100
    alone = transport(stand_in).send(template(), [outbound(1)])
    assert alone[0].outcome is Outcome.permanent and alone[0].code == 413


def test_an_invalid_address_bounces_alone_and_the_rest_are_sent(stand_in: SendGridStandIn) -> None:
    messages = [outbound(i, "not an address@example.net" if i == 7 else None) for i in range(20)]
    results = {r.subscriber_id: r for r in transport(stand_in).send(template(), messages)}
    assert results[7].outcome is Outcome.permanent and "valid address" in results[7].detail
    assert all(results[i].outcome is Outcome.accepted for i in range(20) if i != 7)
    assert len(stand_in.recipients()) == 19


def test_a_wrong_key_is_a_clear_permanent_failure_that_never_shows_the_key(stand_in: SendGridStandIn) -> None:
    with pytest.raises(PermanentFailure, match="SendGrid refused the request") as refused:
        transport(stand_in, key="SG.secret-wrong-key").send(template(), [outbound(1)])
    assert "401" in str(refused.value) and "NEWSLETTER_SENDGRID_API_KEY" in str(refused.value)
    assert "secret-wrong-key" not in str(refused.value)


@pytest.mark.parametrize("host", ["file:///etc/passwd", "ftp://api.example.org", "api.sendgrid.com"])
def test_a_host_that_is_not_an_http_url_is_refused_before_any_request(host: str) -> None:
    with pytest.raises(ConfigError, match="NEWSLETTER_SENDGRID_HOST must be an http"):
        SendGridTransport(KEY, host)


def test_an_unreachable_api_is_a_temporary_failure() -> None:
    with SendGridStandIn(KEY) as server:
        url = server.url
    with pytest.raises(TemporaryFailure, match="cannot reach SendGrid"):
        SendGridTransport(KEY, url).send(template(), [outbound(1)])


# -- through the send loop and the ledger ---------------------------------------------------------------


def _send(database: Database, settings: Settings, digest: Digest, count: int) -> tuple[PreparedEdition, int]:
    rows = [(f"reader{i}@example.org", f"Reader {i}") for i in range(count)]
    database.store.add_many(rows, status=Status.confirmed, consent=Consent("test"))
    prepared = prepare_edition(digest, Renderer(settings.templates_dir), database.ledger, settings)
    return prepared, prepared.edition.id


def test_a_send_through_sendgrid_records_every_recipient_with_its_request_id(
    database: Database, settings: Settings, sample_digest: Digest, stand_in: SendGridStandIn
) -> None:
    settings = settings.replace(batch_size=1500, retry_delay=0.01, retry_max_delay=0.02)
    prepared, edition_id = _send(database, settings, sample_digest, 2100)
    stand_in.plan(429, 503, 503, 503)  # a rate limit, then a request that fails three times: backoff, retry
    sleeps = Sleeps()
    sender = Sender(
        settings=settings,
        store=database.store,
        ledger=database.ledger,
        links=Links(settings),
        transport=SendGridTransport(KEY, stand_in.url, sleep=sleeps),
        sleep=sleeps,
    )
    summary = sender.send(prepared)
    counts = database.ledger.counts(edition_id)
    assert counts[DeliveryStatus.accepted] == 2100 == summary.accepted
    assert summary.retried == 0 and summary.status == EditionStatus.sent and not summary.stopped
    assert stand_in.statuses == {429: 1, 503: 3, 202: 3}
    assert collections.Counter(stand_in.recipients()) == {f"reader{i}@example.org": 1 for i in range(2100)}
    body = stand_in.received[0].body
    assert "%nl_h_unsub%" in body["content"][1]["value"] and "__nl_slot" not in body["content"][1]["value"]


def test_a_refused_key_pauses_the_send_and_leaves_every_row_to_resume(
    database: Database, settings: Settings, sample_digest: Digest, stand_in: SendGridStandIn
) -> None:
    prepared, edition_id = _send(database, settings, sample_digest, 30)
    sender = Sender(
        settings=settings,
        store=database.store,
        ledger=database.ledger,
        links=Links(settings),
        transport=SendGridTransport("SG.wrong", stand_in.url),
    )
    with pytest.raises(PermanentFailure, match="401"):
        sender.send(prepared)
    assert database.ledger.edition_status(edition_id) is EditionStatus.paused
    assert database.ledger.counts(edition_id)[DeliveryStatus.deferred] == 30
    resumed = Sender(
        settings=settings,
        store=database.store,
        ledger=database.ledger,
        links=Links(settings),
        transport=SendGridTransport(KEY, stand_in.url),
    ).send(prepared)
    assert resumed.accepted == 30 and database.ledger.counts(edition_id)[DeliveryStatus.accepted] == 30


def test_test_sends_go_through_sendgrid_outside_the_ledger(
    database: Database, settings: Settings, sample_digest: Digest, stand_in: SendGridStandIn
) -> None:
    prepared, edition_id = _send(database, settings, sample_digest, 2)
    sender = Sender(
        settings=settings,
        store=database.store,
        ledger=database.ledger,
        links=Links(settings),
        transport=SendGridTransport(KEY, stand_in.url),
    )
    results = sender.send_test(prepared, ["reader1@example.org", "editor@example.net"])
    sender.close()
    assert [r.outcome for r in results] == [Outcome.accepted, Outcome.accepted]
    assert sorted(stand_in.recipients()) == ["editor@example.net", "reader1@example.org"]
    assert database.ledger.counts(edition_id)[DeliveryStatus.accepted] == 0
