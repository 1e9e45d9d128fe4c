"""Bytes that are not UTF-8 in a form are a 400 page, never an address; long local parts are refused."""

from __future__ import annotations

import pytest

from tests.support.web_helpers import csrf_of, outbox, signup

FORM = {"content-type": "application/x-www-form-urlencoded"}


def _raw_post(client, path: str, body: bytes, content_type: str = FORM["content-type"]):
    return client.post(path, content=body, headers={"content-type": content_type})


@pytest.mark.parametrize(
    "email",
    [
        b"%FF%FEx%40example.com",  # the case: a UTF-16 mark, percent-encoded
        b"caf%E9%40example.org",  # Latin-1 e-acute
        b"%C3%28%40example.org",  # a broken two-byte sequence
        b"%ED%A0%80x%40example.org",  # an encoded surrogate (not allowed in UTF-8)
        b"\xff\xfex%40example.com",  # raw, not even percent-encoded
    ],
)
def test_bytes_that_are_not_utf8_are_a_400_page(client, settings, database, email) -> None:
    token = csrf_of(client.get("/").text).encode()
    response = _raw_post(client, "/subscribe", b"email=" + email + b"&website=&csrf=" + token)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "not valid UTF-8" in response.text and "Traceback" not in response.text
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert sum(database.store.count_by_status().values()) == 0 and outbox(settings) == []


def test_the_neighbours_still_work(client, database) -> None:
    token = csrf_of(client.get("/").text).encode()
    ok = _raw_post(
        client, "/subscribe", b"email=caf%C3%A9%40example.org&name=Zo%C3%AB&website=&csrf=" + token
    )
    assert ok.status_code == 200 and "Check your inbox" in ok.text
    subscriber = database.store.find("café@example.org")
    assert subscriber is not None and subscriber.name == "Zoë"


def test_a_name_that_is_not_utf8_is_refused_too_and_so_is_multipart(client, database) -> None:
    token = csrf_of(client.get("/").text)
    body = b"email=ann%40example.org&name=Jos%E9&website=&csrf=" + token.encode()
    assert _raw_post(client, "/subscribe", body).status_code == 400
    boundary = "nlboundary"
    parts = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="email"\r\n\r\n'.encode()
        + b"\xff\xfex@example.com\r\n"
        + f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{token}\r\n'.encode()
        + f"--{boundary}--\r\n".encode()
    )
    refused = _raw_post(client, "/subscribe", parts, f"multipart/form-data; boundary={boundary}")
    assert refused.status_code == 400 and "not valid UTF-8" in refused.text
    assert database.store.find("ann@example.org") is None


def test_the_embedded_form_refuses_in_its_compact_layout(client) -> None:
    response = _raw_post(client, "/embed", b"email=%FF%40example.org")
    assert response.status_code == 400 and "nl-embed" in response.text


def test_one_click_unsubscribe_with_broken_bytes_is_a_400_and_changes_nothing(client, database) -> None:
    from newsletter.delivery.links import Links
    from subscribers.models import Status
    from subscribers.store import Consent

    reader = database.store.add("r@example.org", status=Status.confirmed, consent=Consent(source="t"))
    token = Links(client.app.state.settings).unsubscribe_token(reader.id)
    assert _raw_post(client, f"/u/{token}", b"List-Unsubscribe=One-Click%FF").status_code == 400
    assert database.store.get(reader.id).status is Status.confirmed


def test_an_oversized_form_is_a_413(client) -> None:
    response = _raw_post(client, "/subscribe", b"email=" + b"a" * 70_000)
    assert response.status_code == 413 and "Too much data" in response.text


@pytest.mark.parametrize(
    ("local", "accepted"),
    [
        ("a" * 64, True),
        ("a" * 65, False),
        ("é" * 32, True),
        ("é" * 33, False),
        ("ab" + "é" * 31, True),
        ("abc" + "é" * 31, False),
    ],
)
def test_local_parts_over_64_octets_are_refused_with_the_reason(client, database, local, accepted) -> None:
    response = signup(client, f"{local}@example.org")
    if accepted:
        assert response.status_code == 200
        assert database.store.find(f"{local}@example.org") is not None
    else:
        octets = len(local.encode())
        assert response.status_code == 422
        assert f"{octets} bytes long; mail servers accept at most 64 (RFC 5321)" in response.text
        assert sum(database.store.count_by_status().values()) == 0


def test_a_replacement_character_is_never_an_address(client, database) -> None:
    response = signup(client, "\ufffd\ufffdx@example.com")
    assert response.status_code == 422 and "unreadable characters" in response.text
    assert sum(database.store.count_by_status().values()) == 0
