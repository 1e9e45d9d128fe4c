"""Confirm and unsubscribe links through the app: expiry, tampering, RFC 8058 one-click, re-signup."""

from __future__ import annotations

import time

import pytest

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.links import Links
from subscribers.models import ConsentKind, Status
from subscribers.store import Consent
from subscribers.tokens import Purpose
from tests.support.web_helpers import (
    build_app,
    confirm_url,
    csrf_of,
    make_client,
    outbox,
    parse,
    path_of,
    signup,
)


@pytest.fixture
def links(settings: Settings) -> Links:
    return Links(settings)


def _confirmed(database: Database, address: str = "reader@example.org") -> int:
    return database.store.add(address, "Reader", status=Status.confirmed, consent=Consent(source="test")).id


def _tampered(token: str) -> list[str]:
    ident, expires, signature = token.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    return [
        f"{ident}.{expires}.{flipped}",  # signature changed
        f"{int(ident, 36) + 1:x}.{expires}.{signature}",  # another subscriber
        f"{ident}.{expires}",  # truncated
        token + "x",
        "not-a-token",
    ]


def test_expired_confirm_link_offers_a_fresh_one(client, settings, database, links) -> None:
    signup(client, "late@example.org")
    subscriber = database.store.find("late@example.org")
    assert subscriber is not None
    old = links.confirm_url(subscriber.id, now=time.time() - 8 * 24 * 3600)  # default TTL is 7 days
    expired = client.get(path_of(old))
    assert expired.status_code == 410 and "expired" in expired.text and "Send me a new link" in expired.text
    assert database.store.get(subscriber.id).status is Status.pending
    token = path_of(old).rsplit("/", 1)[1]
    resent = client.post("/confirm/resend", data={"token": token, "csrf": csrf_of(expired.text)})
    assert resent.status_code == 200 and "Check your inbox" in resent.text
    fresh = confirm_url(parse(outbox(settings)[-1].read_bytes()))
    assert len(outbox(settings)) == 2 and fresh != old
    assert client.post(path_of(fresh)).status_code == 200
    assert database.store.get(subscriber.id).status is Status.confirmed


def test_confirm_ttl_follows_the_setting(settings, database) -> None:
    pending = database.store.add("ttl@example.org", status=Status.pending, consent=Consent(source="t"))
    subscriber_id = pending.id
    app = build_app(settings, database, confirm_ttl_days=1)
    day = 24 * 3600
    assert app.state.links.confirm_ttl_seconds == day
    with make_client(app) as client:
        assert (
            client.get(
                path_of(app.state.links.confirm_url(subscriber_id, now=time.time() - day - 60))
            ).status_code
            == 410
        )
        assert (
            client.get(
                path_of(app.state.links.confirm_url(subscriber_id, now=time.time() - day + 60))
            ).status_code
            == 200
        )


def test_tampered_confirm_and_unsubscribe_tokens_change_nothing(client, database, links) -> None:
    pending = database.store.add("p@example.org", status=Status.pending, consent=Consent(source="t")).id
    confirmed = _confirmed(database)
    confirm_token = path_of(links.confirm_url(pending)).rsplit("/", 1)[1]
    for bad in _tampered(confirm_token):
        response = client.get(f"/confirm/{bad}")
        assert response.status_code == 400 and "not valid" in response.text
        assert client.post(f"/confirm/{bad}").status_code == 400
    unsubscribe_token = links.unsubscribe_token(confirmed)
    for bad in [*_tampered(unsubscribe_token), confirm_token]:  # a confirm token cannot unsubscribe
        page = client.get(f"/u/{bad}")
        assert page.status_code == 400 and "not valid" in page.text
        posted = client.post(f"/u/{bad}", data={"List-Unsubscribe": "One-Click"})
        assert posted.status_code == 400
    assert client.get(f"/confirm/{unsubscribe_token}").status_code == 400  # nor the other way round
    assert database.store.get(pending).status is Status.pending
    assert database.store.get(confirmed).status is Status.confirmed


def test_unsubscribe_page_changes_nothing_until_the_button(client, database, links) -> None:
    subscriber_id = _confirmed(database)
    token = links.unsubscribe_token(subscriber_id)
    page = client.get(f"/u/{token}")
    assert page.status_code == 200 and page.text.count("<button") == 1
    assert "r…@example.org" in page.text and "reader@example.org" not in page.text
    assert database.store.get(subscriber_id).status is Status.confirmed
    done = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click", "via": "page"})
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    assert database.store.get(subscriber_id).status is Status.unsubscribed
    assert database.store.events(subscriber_id)[-1].source == "web:unsubscribe page"


@pytest.mark.parametrize("encoding", ["form", "multipart"])
def test_rfc8058_one_click_post(client, database, links, encoding) -> None:
    subscriber_id = _confirmed(database)
    url = f"/u/{links.unsubscribe_token(subscriber_id)}"
    client.cookies.clear()
    if encoding == "form":
        response = client.post(
            url,
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    else:
        response = client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200  # no redirect
    assert "set-cookie" not in response.headers and "location" not in response.headers
    assert database.store.get(subscriber_id).status is Status.unsubscribed
    event = database.store.events(subscriber_id)[-1]
    assert event.kind is ConsentKind.unsubscribed and event.source == "list-unsubscribe one-click"
    again = client.post(url, data={"List-Unsubscribe": "One-Click"})  # idempotent
    assert again.status_code == 200
    assert [e.kind for e in database.store.events(subscriber_id)].count(ConsentKind.unsubscribed) == 1


def test_post_without_the_one_click_body_is_refused(client, database, links) -> None:
    subscriber_id = _confirmed(database)
    url = f"/u/{links.unsubscribe_token(subscriber_id)}"
    for body in ({}, {"List-Unsubscribe": "yes"}):
        assert client.post(url, data=body).status_code == 400
    assert client.post(url, json={"List-Unsubscribe": "One-Click"}).status_code == 400
    assert database.store.get(subscriber_id).status is Status.confirmed


def test_unsubscribe_token_never_expires(database, links) -> None:
    subscriber_id = _confirmed(database)
    token = links.unsubscribe_token(subscriber_id)
    assert token.split(".")[1] == "0"
    in_fifty_years = time.time() + 50 * 365 * 24 * 3600
    assert links.signer.verify(Purpose.unsubscribe, token, now=in_fifty_years) == subscriber_id


def test_resignup_after_unsubscribe_needs_fresh_confirmation(client, settings, database, links) -> None:
    signup(client, "back@example.org")
    first = confirm_url(parse(outbox(settings)[0].read_bytes()))
    client.post(path_of(first))
    subscriber = database.store.find("back@example.org")
    assert subscriber is not None and subscriber.status is Status.confirmed
    client.post(f"/u/{links.unsubscribe_token(subscriber.id)}", data={"List-Unsubscribe": "One-Click"})
    assert client.post(path_of(first)).status_code == 409  # an old link cannot resubscribe
    assert database.store.get(subscriber.id).status is Status.unsubscribed

    signup(client, "back@example.org")
    assert database.store.get(subscriber.id).status is Status.pending
    confirmations = [p for p in outbox(settings) if parse(p.read_bytes())["Subject"].startswith("Confirm")]
    assert len(confirmations) == 2
    client.post(path_of(confirm_url(parse(confirmations[-1].read_bytes()))))
    assert database.store.get(subscriber.id).status is Status.confirmed


def test_old_confirm_link_cannot_resubscribe_after_unsubscribe(client, database, links) -> None:
    subscriber_id = database.store.add("x@example.org", status=Status.pending, consent=Consent(source="t")).id
    link = links.confirm_url(subscriber_id)
    database.store.unsubscribe(subscriber_id, Consent(source="t"))
    response = client.post(path_of(link))
    assert response.status_code == 409 and "sign up" in response.text
    assert database.store.get(subscriber_id).status is Status.unsubscribed


def test_opening_a_confirmation_link_changes_nothing_until_the_button(client, settings, database) -> None:
    """Mail scanners (Safe Links, URL Defense, Mimecast) GET every link, HEAD too: nobody is confirmed."""
    signup(client, "scanned@example.org")
    url = path_of(confirm_url(parse(outbox(settings)[0].read_bytes())))
    subscriber = database.store.find("scanned@example.org")
    assert subscriber is not None
    for _ in range(3):
        page = client.get(url, headers={"user-agent": "Mozilla/5.0 (compatible; SafeLinks scanner)"})
        assert page.status_code == 200 and "Confirm your subscription" in page.text
        assert page.text.count("<button") == 1 and "<script" not in page.text
        assert f'method="post" action="{url}"' in page.text and "s…@example.org" in page.text
        assert "scanned@example.org" not in page.text
    assert client.head(url).status_code in (200, 405)
    assert client.get(url + "/").status_code == 200
    assert database.store.get(subscriber.id).status is Status.pending
    assert [e.kind for e in database.store.events(subscriber.id)] == [ConsentKind.signup]
    assert len(outbox(settings)) == 1  # no welcome email either

    done = client.post(url)
    assert done.status_code == 200 and "you are subscribed" in done.text
    assert database.store.get(subscriber.id).status is Status.confirmed
    assert database.store.events(subscriber.id)[-1].source == "web:confirm button"


def test_the_confirm_button_refuses_other_sites_and_answers_a_trailing_slash(client, database, links) -> None:
    pending = database.store.add("slash@example.org", status=Status.pending, consent=Consent(source="t"))
    url = path_of(links.confirm_url(pending.id))
    foreign = client.post(url, headers={"origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert database.store.get(pending.id).status is Status.pending
    done = client.post(url + "/", headers={"origin": "https://news.example.org"})
    assert done.status_code == 200 and "location" not in done.headers
    assert database.store.get(pending.id).status is Status.confirmed
    old = path_of(links.confirm_url(pending.id, now=time.time() - 8 * 24 * 3600))
    assert client.post(old).status_code == 410  # an expired link offers a fresh one on POST too


@pytest.mark.parametrize("method", ["get", "post"])
def test_unsubscribe_with_a_trailing_slash_is_answered_without_a_redirect(
    client, database, links, method
) -> None:
    subscriber_id = _confirmed(database)
    url = f"/u/{links.unsubscribe_token(subscriber_id)}/"
    if method == "get":
        response = client.get(url)
        assert response.status_code == 200 and "<button" in response.text
        assert database.store.get(subscriber_id).status is Status.confirmed
    else:
        response = client.post(url, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200 and "You are unsubscribed" in response.text
        assert database.store.get(subscriber_id).status is Status.unsubscribed
    assert "location" not in response.headers and "set-cookie" not in response.headers
