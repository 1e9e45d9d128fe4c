"""The signup form through the app (SQLite and PostgreSQL), confirmation emails read from the outbox."""

from __future__ import annotations

import re

import pytest

from subscribers.models import ConsentKind, Status
from subscribers.store import Consent
from tests.support.web_helpers import (
    build_app,
    confirm_url,
    csrf_of,
    make_client,
    outbox,
    parse,
    path_of,
    signup,
    without_csrf,
)


def test_front_page_is_an_accessible_form_with_secure_headers(client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    assert '<label for="nl-email">' in html and 'id="nl-email"' in html
    assert '<label for="nl-name">' in html
    assert 'name="viewport" content="width=device-width' in html
    assert "<script" not in html and "style=" not in html
    csp = page.headers["content-security-policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["strict-transport-security"].startswith("max-age=")  # base_url is https
    assert "set-cookie" not in page.headers
    css = client.get("/static/site.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_signup_records_pending_consent_and_mails_a_confirmation(client, settings, database) -> None:
    page = client.get("/")
    response = client.post(
        "/subscribe",
        data={"email": "Reader@Example.org", "name": "Ann Reader", "csrf": csrf_of(page.text), "website": ""},
        headers={"user-agent": "TestBrowser/1.0"},
    )
    assert response.status_code == 200
    assert "Check your inbox" in response.text
    subscriber = database.store.find("reader@example.org")
    assert subscriber is not None and subscriber.status is Status.pending and subscriber.name == "Ann Reader"
    events = database.store.events(subscriber.id)
    assert [e.kind for e in events] == [ConsentKind.signup]
    assert events[0].ip == "testclient" and events[0].user_agent == "TestBrowser/1.0"
    assert events[0].source == "web:form" and events[0].at is not None
    files = outbox(settings)
    assert len(files) == 1
    message = parse(files[0].read_bytes())
    assert message["To"] == "Ann Reader <reader@example.org>"
    assert message["Subject"] == "Confirm your subscription to Burma Partnership"
    url = confirm_url(message)
    assert url.startswith("https://news.example.org/confirm/")

    confirmed = client.post(path_of(url), headers={"user-agent": "TestBrowser/1.0"})
    assert confirmed.status_code == 200 and "you are subscribed" in confirmed.text
    assert database.store.get(subscriber.id).status is Status.confirmed
    kinds = [e.kind for e in database.store.events(subscriber.id)]
    assert kinds == [ConsentKind.signup, ConsentKind.confirmed]
    welcome = parse(outbox(settings)[-1].read_bytes())
    assert welcome["Subject"] == "Welcome to Burma Partnership"
    assert "/u/" in welcome["List-Unsubscribe"]

    again = client.post(path_of(url))  # a second click is harmless
    assert again.status_code == 200 and again.text == confirmed.text
    assert [e.kind for e in database.store.events(subscriber.id)] == kinds
    assert len(outbox(settings)) == 2  # no second welcome


def test_welcome_email_can_be_switched_off(settings, database) -> None:
    with make_client(build_app(settings, database, welcome_email=False)) as client:
        signup(client, "quiet@example.org")
        client.post(path_of(confirm_url(parse(outbox(settings)[0].read_bytes()))))
    assert database.store.find("quiet@example.org").status is Status.confirmed
    assert len(outbox(settings)) == 1


def test_same_response_for_new_pending_confirmed_and_unsubscribed_addresses(client, database) -> None:
    database.store.add("confirmed@example.org", "C", status=Status.confirmed, consent=Consent(source="test"))
    gone = database.store.add("gone@example.org", "G", status=Status.confirmed, consent=Consent(source="t"))
    database.store.unsubscribe(gone.id, Consent(source="test"))
    database.store.add("waiting@example.org", "W", status=Status.pending, consent=Consent(source="test"))
    answers = []
    for address in ("new@example.org", "waiting@example.org", "confirmed@example.org", "gone@example.org"):
        response = signup(client, address, "Someone")
        cookie = response.headers.get("set-cookie")
        answers.append((response.status_code, without_csrf(response.text), cookie))
    assert len(set(answers)) == 1, "the response reveals whether an address is on the list"
    assert answers[0][0] == 200
    assert database.store.find("confirmed@example.org").status is Status.confirmed
    assert database.store.find("gone@example.org").status is Status.pending


def test_honeypot_filled_looks_accepted_but_does_nothing(client, settings, database) -> None:
    real = signup(client, "human@example.org")
    bot = signup(client, "bot@example.org", website="http://spam.example")
    assert bot.status_code == real.status_code == 200 and bot.text == real.text
    assert database.store.find("bot@example.org") is None
    assert len(outbox(settings)) == 1


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("not-an-address", "An email address must have an @-sign."),
        ("someone@", "There must be something after the @-sign."),
        ("", "Please enter an email address."),
        ("a@b@example.org", "The part after the @-sign contains invalid characters"),
    ],
)
def test_invalid_address_gets_email_validators_message(client, database, address, expected) -> None:
    response = signup(client, address, "Ann")
    assert response.status_code == 422
    assert expected.replace("'", "&#39;") in response.text
    assert 'aria-invalid="true"' in response.text and 'role="alert"' in response.text
    assert database.store.count_by_status() == dict.fromkeys(database.store.count_by_status(), 0)


def test_markup_and_crlf_in_names_cannot_inject(client, settings, database) -> None:
    evil = "Eve</script><script>alert(1)</script>\r\nBcc: victim@example.net\r\n\r\n<b>x"
    refused = signup(client, "bad address", evil)
    assert "<script>alert(1)</script>" not in refused.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in refused.text
    signup(client, "eve@example.org", evil)
    raw = outbox(settings)[0].read_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"^Bcc:", head, re.MULTILINE | re.IGNORECASE)
    to_lines = [line for line in head.split(b"\r\n") if line.startswith(b"To:")]
    assert len(to_lines) == 1 and b"eve@example.org" in to_lines[0]
    assert b"<script>" not in raw.split(b"\r\n\r\n", 1)[1]  # the name is header text only, never HTML
    message = parse(raw)
    assert message["Bcc"] is None and "victim@example.net" not in (message["Cc"] or "")
    stored = database.store.find("eve@example.org")
    assert stored is not None and "\r" not in stored.name and "\n" not in stored.name


def test_csrf_token_is_required_and_checked(client, settings, database) -> None:
    token = csrf_of(client.get("/").text)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for bad in ("", "nonsense", forged):
        response = client.post("/subscribe", data={"email": "x@example.org", "csrf": bad})
        assert response.status_code == 403 and "could not be accepted" in response.text
        assert 'value="x@example.org"' in response.text  # what they typed is kept
    stale = client.app.state.web.csrf.issue(now=1_000_000)
    response = client.post("/subscribe", data={"email": "x@example.org", "csrf": stale})
    assert response.status_code == 400 and "send it again" in response.text
    foreign = client.post(
        "/subscribe",
        data={"email": "x@example.org", "csrf": token},
        headers={"origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    assert database.store.find("x@example.org") is None and outbox(settings) == []
    same_site = client.post(
        "/subscribe",
        data={"email": "x@example.org", "csrf": token},
        headers={"origin": "https://news.example.org"},
    )
    assert same_site.status_code == 200


def test_per_ip_limit(settings, database) -> None:
    with make_client(build_app(settings, database, signup_limit_per_ip=3)) as client:
        statuses = [signup(client, f"r{i}@example.org").status_code for i in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        limited = signup(client, "r9@example.org")
        assert int(limited.headers["retry-after"]) > 0 and "Too many" in limited.text
    assert database.store.count_by_status()["pending"] == 3


def test_per_address_limit_stops_inbox_bombing_without_telling(settings, database) -> None:
    with make_client(build_app(settings, database, signup_limit_per_address=2)) as client:
        pages = {without_csrf(signup(client, "target@example.org").text) for _ in range(5)}
        other = signup(client, "other@example.org")
    assert len(pages) == 1 and other.status_code == 200
    recipients = [parse(p.read_bytes())["To"] for p in outbox(settings)]
    assert recipients.count("target@example.org") == 2 and recipients.count("other@example.org") == 1


def test_embeddable_form_may_be_framed_and_records_its_source(settings, database) -> None:
    app = build_app(settings, database, embed_frame_ancestors="https://blog.example.org")
    with make_client(app) as client:
        page = client.get("/embed?site=my-blog")
        assert page.status_code == 200 and "x-frame-options" not in page.headers
        assert "frame-ancestors https://blog.example.org" in page.headers["content-security-policy"]
        assert 'name="site" value="my-blog"' in page.text and 'action="/embed"' in page.text
        done = client.post(
            "/embed", data={"email": "framed@example.org", "csrf": csrf_of(page.text), "site": "my-blog"}
        )
        assert done.status_code == 200 and "Check your inbox" in done.text and "nl-embed" in done.text
        assert "x-frame-options" not in done.headers
        snippet = client.get("/embed/snippet")
        assert snippet.headers["x-frame-options"] == "DENY"
        assert "&lt;iframe src=&#34;https://news.example.org/embed&#34;" in snippet.text
    subscriber = database.store.find("framed@example.org")
    assert subscriber is not None
    assert database.store.events(subscriber.id)[0].source == "web:embed:my-blog"


def test_errors_are_pages_not_tracebacks(client) -> None:
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and "Page not found" in missing.text
    assert missing.headers["content-type"].startswith("text/html")
    wrong = client.put("/subscribe")
    assert wrong.status_code == 405 and "Traceback" not in wrong.text


def test_markup_or_line_breaks_in_the_address_are_refused_and_escaped(client, settings) -> None:
    for typed in (
        "reader@example.org\r\nBcc: victim@example.net",
        "<script>alert(1)</script>@example.org",
        'x"><script>alert(1)</script>',
    ):
        response = signup(client, typed)
        assert response.status_code == 422
        assert "<script>" not in response.text
    assert outbox(settings) == []


def test_a_failing_transport_is_logged_not_shown(client, database, caplog) -> None:
    from newsletter.errors import TemporaryFailure

    def broken() -> None:
        raise TemporaryFailure("connection refused by 127.0.0.1:1")

    client.app.state.transport_factory = broken
    response = signup(client, "unlucky@example.org")
    assert response.status_code == 200 and "Check your inbox" in response.text
    assert "connection refused" in caplog.text
    assert database.store.find("unlucky@example.org") is not None  # they can ask for a new link later


def test_an_unexpected_error_is_a_plain_500_page(settings, database) -> None:
    app = build_app(settings, database)

    def fail(*args: object) -> None:
        raise RuntimeError("secret internals")

    app.state.web.flow.request = fail
    client = make_client(app, raise_server_exceptions=False)  # as a browser would see it
    response = signup(client, "x@example.org")
    assert response.status_code == 500 and "Something went wrong" in response.text
    assert "secret internals" not in response.text and "Traceback" not in response.text


def test_confirmation_goes_through_the_sendgrid_transport(settings, database) -> None:
    from tests.support.sendgrid_server import SendGridStandIn

    with SendGridStandIn("SG.signup-key") as stand_in:
        app = build_app(
            settings,
            database,
            transport="sendgrid",
            sendgrid_api_key="SG.signup-key",
            sendgrid_host=stand_in.url,
        )
        with make_client(app) as client:
            assert signup(client, "viasg@example.org", "Sam").status_code == 200
        assert stand_in.recipients() == ["viasg@example.org"]
        body = stand_in.received[0].body
    assert body["subject"] == "Confirm your subscription to Burma Partnership"
    text = next(part["value"] for part in body["content"] if part["type"] == "text/plain")
    assert "https://news.example.org/confirm/" in text
