"""Who the client is: the socket peer unless a trusted proxy says otherwise, and never a made-up value."""

from __future__ import annotations

import ipaddress

import pytest

from newsletter.config import Settings, load_settings
from newsletter.database import Database
from newsletter.errors import ConfigError
from newsletter.web.clients import ForwardingError, client_address
from tests.support.web_helpers import build_app, csrf_of, make_client

LOCAL = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))
PROXIES = (*LOCAL, ipaddress.ip_network("10.0.0.0/8"))


@pytest.mark.parametrize(
    ("peer", "headers", "proxies", "client"),
    [
        ("203.0.113.9", ["198.51.100.1"], PROXIES, "203.0.113.9"),  # not a proxy: the header is ignored
        ("127.0.0.1", ["198.51.100.1"], (), "127.0.0.1"),  # default: nobody is trusted
        ("127.0.0.1", ["198.51.100.1"], PROXIES, "198.51.100.1"),
        ("127.0.0.1", ["nonsense-3, 198.51.100.1"], PROXIES, "198.51.100.1"),  # client wrote the left
        ("127.0.0.1", ["6.6.6.6, 198.51.100.1, 10.0.0.5"], PROXIES, "198.51.100.1"),  # right-most untrusted
        ("127.0.0.1", ["6.6.6.6", "198.51.100.1"], PROXIES, "198.51.100.1"),  # two header lines
        ("127.0.0.1", ["nonsense-3, 10.0.0.5"], PROXIES, "10.0.0.5"),  # walk stops at what is not an IP
        ("127.0.0.1", ["10.0.0.7, 10.0.0.5"], PROXIES, "10.0.0.7"),  # all trusted: the first hop
        ("127.0.0.1", ["198.51.100.1:4711"], PROXIES, "198.51.100.1"),
        ("127.0.0.1", ["[2001:db8::1]:443"], PROXIES, "2001:db8::1"),
        ("::1", ["2001:db8::2"], PROXIES, "2001:db8::2"),
        ("::ffff:127.0.0.1", ["198.51.100.1"], PROXIES, "198.51.100.1"),
        (None, [], PROXIES, None),
    ],
)
def test_client_address(peer, headers, proxies, client) -> None:
    assert client_address(peer, headers, proxies) == client


@pytest.mark.parametrize("headers", [[], [""], [" , "], ["nonsense-3"], ["198.51.100.1, <script>"]])
def test_a_trusted_proxy_that_says_nothing_readable_is_refused(headers) -> None:
    with pytest.raises(ForwardingError):
        client_address("127.0.0.1", headers, PROXIES)


def test_the_setting_is_checked_at_load(tmp_path) -> None:
    assert Settings().trusted_proxy_networks == ()
    settings = load_settings(
        {"NEWSLETTER_TRUSTED_PROXIES": "127.0.0.1, ::1 10.0.0.0/8"}, tmp_path / "none.toml"
    )
    assert settings.trusted_proxy_networks == PROXIES
    with pytest.raises(ConfigError, match="trusted_proxies: 'localhost' is not an IP address"):
        load_settings({"NEWSLETTER_TRUSTED_PROXIES": "localhost"}, tmp_path / "none.toml")


def _post(client, **headers: str):
    token = csrf_of(client.get("/").text)
    data = {"email": headers.pop("email", "ann@example.org"), "csrf": token, "website": ""}
    return client.post("/subscribe", data=data, headers=headers)


def test_without_trusted_proxies_the_header_cannot_choose_the_ip(
    settings: Settings, database: Database
) -> None:
    with make_client(build_app(settings, database, signup_limit_per_ip=2)) as client:
        statuses = [_post(client, **{"x-forwarded-for": f"198.51.100.{i}"}).status_code for i in range(4)]
        assert statuses == [200, 200, 429, 429]  # one bucket: the peer's
        assert _post(client, **{"x-forwarded-for": "nonsense-3"}).status_code == 429
    subscriber = database.store.find("ann@example.org")
    assert subscriber is not None
    assert {e.ip for e in database.store.events(subscriber.id)} == {"testclient"}


def test_behind_a_trusted_proxy_each_visitor_has_their_own_limit_and_evidence(
    settings: Settings, database: Database
) -> None:
    # The TestClient's peer is the host "testclient"; uvicorn gives an address, as in test_serve.py.
    app = build_app(settings, database, signup_limit_per_ip=2, trusted_proxies="127.0.0.1 ::1 10.0.0.0/8")
    with make_client(_PeerIs("127.0.0.1", app)) as client:
        for visitor in ("198.51.100.1", "198.51.100.2"):
            for _ in range(2):
                forwarded = {"x-forwarded-for": f"nonsense-3, {visitor}"}
                assert _post(client, email=f"{visitor}@example.org", **forwarded).status_code == 200
            assert _post(client, email="x@example.org", **{"x-forwarded-for": visitor}).status_code == 429
        missing = _post(client, email="y@example.org")
        assert missing.status_code == 400 and "could not tell where this request came from" in missing.text
    for visitor in ("198.51.100.1", "198.51.100.2"):
        subscriber = database.store.find(f"{visitor}@example.org")
        assert subscriber is not None
        assert {e.ip for e in database.store.events(subscriber.id)} == {visitor}
    assert database.store.find("y@example.org") is None


class _PeerIs:
    """Presents every request to the app as coming from one socket peer (a proxy on this machine)."""

    def __init__(self, host: str, app) -> None:
        self.host = host
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "client": (self.host, 50000)}
        await self.app(scope, receive, send)
