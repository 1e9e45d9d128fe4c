"""SendGrid's signed Event Webhook: the published test vector, and our own key pair end to end."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from sqlalchemy import select

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.links import Links
from newsletter.delivery.message import OutboundMessage
from newsletter.delivery.transports.sendgrid import personalization
from newsletter.edition.digest import load_digest
from newsletter.errors import ConfigError
from newsletter.feedback.events import BadSignature
from newsletter.feedback.records import FeedbackRecord
from newsletter.feedback.sendgrid import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookVerifier
from newsletter.web import webhooks
from subscribers import Status
from tests.conftest import SAMPLE_DIGEST
from tests.support.feedback_corpora import CORPORA
from tests.support.feedback_helpers import send_outbox, subscribe
from tests.support.web_helpers import make_client

if TYPE_CHECKING:
    from starlette.testclient import TestClient

VECTOR = json.loads((CORPORA / "sendgrid_eventwebhook_vector.json").read_text())
CURRENT = VECTOR["vectors"][0]


def verify(key: str, payload: str, signature: str, timestamp: str) -> None:
    verifier = WebhookVerifier(key, max_age_seconds=10**10)  # the vectors are from 2020
    verifier.verify(
        payload.encode(), signature, timestamp, now=float(timestamp) if timestamp.isdigit() else 0
    )


@pytest.mark.parametrize("vector", VECTOR["vectors"], ids=lambda v: v["name"][:8])
def test_published_vectors_verify(vector: dict[str, Any]) -> None:
    assert vector["expected_valid"]
    verify(vector["public_key"], vector["payload"], vector["signature"], vector["timestamp"])


@pytest.mark.parametrize("case", VECTOR["negative_cases_from_same_test_file"], ids=lambda c: c["case"])
def test_each_tampered_variant_is_refused(case: dict[str, Any]) -> None:
    values = {
        name: case.get(name, CURRENT[name]) for name in ("public_key", "payload", "signature", "timestamp")
    }
    with pytest.raises(BadSignature):
        verify(values["public_key"], values["payload"], values["signature"], values["timestamp"])


def test_the_trailing_crlf_is_part_of_the_signed_body() -> None:
    with pytest.raises(BadSignature):
        verify(
            CURRENT["public_key"],
            CURRENT["payload"].rstrip("\r\n"),
            CURRENT["signature"],
            CURRENT["timestamp"],
        )


def test_unsigned_stale_and_garbled_posts_are_refused() -> None:
    verifier = WebhookVerifier(CURRENT["public_key"], max_age_seconds=600)
    body, now = CURRENT["payload"].encode(), float(CURRENT["timestamp"])
    for signature, timestamp, at in [
        (None, CURRENT["timestamp"], now),
        (CURRENT["signature"], None, now),
        (CURRENT["signature"], CURRENT["timestamp"], now + 601),
        (CURRENT["signature"], CURRENT["timestamp"], now - 601),
        ("not base64!!", CURRENT["timestamp"], now),
        (CURRENT["signature"], "-1", now),
    ]:
        with pytest.raises(BadSignature):
            verifier.verify(body, signature, timestamp, now=at)
    with pytest.raises(BadSignature):
        verifier.verify(b"\xff\xfe" + body, CURRENT["signature"], CURRENT["timestamp"], now=now)
    verifier.verify(body, CURRENT["signature"], CURRENT["timestamp"], now=now + 599)


def test_a_missing_or_invalid_key_is_a_configuration_error() -> None:
    for key in ("", "bm90IGEga2V5"):
        with pytest.raises(ConfigError):
            WebhookVerifier(key)


# -- end to end through the FastAPI route, with our own key pair --------------------------------------


class Signer:
    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_b64 = base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self.private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            SIGNATURE_HEADER: base64.b64encode(signature).decode(),
            TIMESTAMP_HEADER: stamp,
            "Content-Type": "application/json",
        }


@pytest.fixture
def signer() -> Signer:
    return Signer()


@pytest.fixture
def client(settings: Settings, database: Database, signer: Signer) -> Iterator[TestClient]:
    app = FastAPI()
    app.state.settings = settings.replace(sendgrid_webhook_key=signer.public_b64)
    app.state.database = database
    app.include_router(webhooks.router)
    with make_client(app) as test_client:
        yield test_client


def body_of(events: list[dict[str, Any]]) -> bytes:
    return (json.dumps(events, separators=(",", ":")) + "\r\n").encode()


def post(
    client: TestClient, signer: Signer, events: list[dict[str, Any]] | bytes, **kw: Any
) -> httpx.Response:
    body = events if isinstance(events, bytes) else body_of(events)
    return client.post("/webhooks/sendgrid", content=body, headers=signer.headers(body, **kw))


def test_events_are_applied_through_custom_args_ref_and_address(
    client: TestClient, signer: Signer, database: Database, settings: Settings
) -> None:
    ids = subscribe(
        database,
        "hard@example.com",
        "ref@example.com",
        "spam@example.com",
        "bye@example.com",
        "soft@example.com",
    )
    ref = Links(settings).delivery_ref(0, ids["ref@example.com"])
    events = [
        {
            "email": "hard@example.com",
            "event": "bounce",
            "type": "bounce",
            "status": "5.1.1",
            "reason": "550 5.1.1 unknown user",
            "sg_event_id": "ev-1",
            "timestamp": 1700000000,
            "edition_id": "",
            "subscriber_id": str(ids["hard@example.com"]),
        },
        {
            "email": "ref@example.com",
            "event": "dropped",
            "reason": "Bounced Address",
            "sg_event_id": "ev-2",
            "ref": ref,
        },
        {"email": "spam@example.com", "event": "spamreport", "sg_event_id": "ev-3"},
        {"email": "bye@example.com", "event": "group_unsubscribe", "sg_event_id": "ev-4", "asm_group_id": 1},
        {
            "email": "soft@example.com",
            "event": "bounce",
            "type": "blocked",
            "status": "5.7.1",
            "reason": "blocked by policy",
            "sg_event_id": "ev-5",
        },
        {"email": "soft@example.com", "event": "open", "sg_event_id": "ev-6"},
    ]
    answer = post(client, signer, events)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": 6, "ignored": 1, "applied": 5, "duplicate": 0, "unmatched": 0}
    states = {email: Status(database.store.get(sid).status) for email, sid in ids.items()}
    assert states == {
        "hard@example.com": Status.bounced,
        "ref@example.com": Status.bounced,
        "spam@example.com": Status.complained,
        "bye@example.com": Status.unsubscribed,
        "soft@example.com": Status.confirmed,
    }
    again = post(client, signer, events)  # SendGrid retries: deduplicated by sg_event_id
    assert again.json()["duplicate"] == 5 and again.json()["applied"] == 0


def test_the_transports_custom_args_find_the_delivery(
    client: TestClient, signer: Signer, database: Database, settings: Settings
) -> None:
    ids = subscribe(database, "nl@example.com")
    edition_id, _ = send_outbox(database, settings, load_digest(SAMPLE_DIGEST))
    links = Links(settings)
    ref = links.delivery_ref(edition_id, ids["nl@example.com"])
    message = OutboundMessage(
        subscriber_id=ids["nl@example.com"],
        email="nl@example.com",
        name="",
        message_id="<x@example.org>",
        envelope_from=links.verp_for_ref(ref),
        unsubscribe_url="u",
        unsubscribe_mailto="m",
        ref=ref,
    )
    event = {
        "email": "nl@example.com",
        "event": "bounce",
        "status": "5.1.1",
        "reason": "no such user",
        "sg_event_id": "nl-1",
        **json.loads(personalization(message))["custom_args"],
    }
    assert post(client, signer, [event]).json()["applied"] == 1
    with database.sessions() as session:
        row = session.scalars(select(FeedbackRecord)).one()
    assert (row.edition_id, row.subscriber_id) == (edition_id, ids["nl@example.com"])


def test_a_forged_ref_does_not_find_anyone(client: TestClient, signer: Signer, database: Database) -> None:
    ids = subscribe(database, "victim@example.com")
    forged = {
        "email": "someone@example.net",
        "event": "spamreport",
        "sg_event_id": "f1",
        "ref": f"e1-s{ids['victim@example.com']}-0000000000",
    }
    assert post(client, signer, [forged]).json()["unmatched"] == 1
    assert database.store.get(ids["victim@example.com"]).status is Status.confirmed


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{}",
        b"[1,2]",
        b'[{"event":"bounce"}]',
        b'[{"email":"a@b","event":7}]',
        b"\xff\x00garbage",
        b"[" * 5000,
        b'{"email":"x"}',
    ],
)
def test_wrong_shapes_are_refused_and_change_nothing(
    client: TestClient, signer: Signer, database: Database, body: bytes
) -> None:
    ids = subscribe(database, "safe@example.com")
    answer = post(client, signer, body)
    # Bytes that are not UTF-8 cannot be what SendGrid signed (the helper verifies text): 403, not 400.
    assert answer.status_code == (403 if body.startswith(b"\xff") else 400) and "error" in answer.json()
    assert database.store.get(ids["safe@example.com"]).status is Status.confirmed


def test_unsigned_tampered_and_stale_posts_are_refused(
    client: TestClient, signer: Signer, database: Database
) -> None:
    ids = subscribe(database, "keep@example.com")
    body = body_of([{"email": "keep@example.com", "event": "spamreport", "sg_event_id": "t1"}])
    assert client.post("/webhooks/sendgrid", content=body).status_code == 403
    headers = signer.headers(body)
    assert (
        client.post("/webhooks/sendgrid", content=body.replace(b"t1", b"t2"), headers=headers).status_code
        == 403
    )
    stale = signer.headers(body, timestamp=int(time.time()) - 11 * 60)
    assert client.post("/webhooks/sendgrid", content=body, headers=stale).status_code == 403
    other = Signer().headers(body)
    assert client.post("/webhooks/sendgrid", content=body, headers=other).status_code == 403
    assert database.store.get(ids["keep@example.com"]).status is Status.confirmed


def test_no_configured_key_answers_503(settings: Settings, database: Database, signer: Signer) -> None:
    app = FastAPI()
    app.state.settings, app.state.database = settings, database
    app.include_router(webhooks.router)
    with make_client(app) as test_client:
        body = body_of([{"email": "a@example.com", "event": "spamreport"}])
        assert (
            test_client.post("/webhooks/sendgrid", content=body, headers=signer.headers(body)).status_code
            == 503
        )


def test_the_route_is_part_of_the_real_app(settings: Settings, database: Database, signer: Signer) -> None:
    app_module = pytest.importorskip("newsletter.web.app")
    app = app_module.create_app(settings.replace(sendgrid_webhook_key=signer.public_b64), database)
    ids = subscribe(database, "real@example.com")
    with make_client(app) as test_client:
        answer = post(
            test_client,
            signer,
            [
                {
                    "email": "real@example.com",
                    "event": "spamreport",
                    "sg_event_id": "r1",
                    "subscriber_id": str(ids["real@example.com"]),
                }
            ],
        )
    assert answer.status_code == 200 and answer.json()["applied"] == 1
    assert database.store.get(ids["real@example.com"]).status is Status.complained
