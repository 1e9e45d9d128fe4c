"""Nothing on the desk without a session; no state change without the session's CSRF token; sign-in
attempts rate limited without saying which half was wrong; subscriber tokens open nothing here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.links import Links
from newsletter.delivery.prepare import prepare_edition
from newsletter.edition.digest import Digest
from newsletter.edition.render import Renderer
from newsletter.web import desk
from newsletter.web.desk import auth
from newsletter.web.desk.editors import EditorStore, generation
from newsletter.web.desk.session import COOKIE, DeskSessions
from tests.support.desk_helpers import (
    PASSWORD,
    TEST_MEMORY_KIB,
    add_editor,
    add_readers,
    desk_csrf,
    desk_settings,
    sign_in,
    signed_in_client,
)
from tests.support.services import port_open, unavailable
from tests.support.web_helpers import build_app, make_client
from tests.support.workers import unique_names

PUBLIC = {"/desk", "/desk/sign-in", "/desk/set-password/{token}"}


@pytest.fixture
def desk_db(settings: Settings, database: Database, tmp_path: Path, sample_digest: Digest) -> Settings:
    add_readers(database, 3)
    prepare_edition(sample_digest, Renderer(settings.templates_dir), database.ledger, settings)
    return desk_settings(settings, tmp_path)


def private_routes(_app: Any = None) -> list[tuple[str, str]]:
    """Every method and path of the desk's routers but the sign-in pages, with real ids filled in."""
    found = []
    routes = [r for router in desk.routers() for r in router.routes if isinstance(r, APIRoute)]
    assert {r.path for r in auth.public.routes} == PUBLIC - {"/desk"}
    for route in routes:
        if route.path not in PUBLIC:
            path = re.sub(r"\{key\}", "2011-07-11-weekly-highlights", route.path)
            path = re.sub(r"\{subscriber_id(:int)?\}", "1", path)
            found.extend((method, path) for method in sorted(route.methods))
    return found


def test_every_desk_route_refuses_without_a_session(desk_db: Settings, database: Database) -> None:
    app = build_app(desk_db, database)
    client = make_client(app)
    routes = private_routes(app)
    assert len(routes) >= 20  # the whole desk, not a sample
    links = Links(desk_db)
    forged = DeskSessions("another-secret-key-0123456789", hours=1, https=True).issue(1, "x")
    cookies: list[dict[str, str]] = [
        {},
        {COOKIE: "garbage"},
        {COOKIE: forged},  # well-formed, signed with another key
        {COOKIE: links.unsubscribe_token(1)},  # a subscriber's own tokens are no key to the desk
        {COOKIE: links.confirm_url(1).rsplit("/", 1)[1]},
        {COOKIE: links.delivery_ref(1, 1)},
    ]
    for jar in cookies:
        client.cookies.clear()
        for name, value in jar.items():
            client.cookies.set(name, value, domain="news.example.org", path="/desk")
        for method, path in routes:
            response = client.request(method, path, data={"csrf": "0" * 40})
            if method == "GET":
                assert response.status_code == 303, (method, path, jar)
                assert response.headers["location"].startswith("/desk/sign-in"), (method, path)
            else:
                assert response.status_code == 403, (method, path, jar)
            assert "reader1@example.org" not in response.text
    assert database.ledger.find_edition("2011-07-11-weekly-highlights").status == "draft"  # type: ignore[union-attr]
    assert database.store.get(1).status == "confirmed"


def test_a_subscribers_token_in_the_address_opens_nothing(desk_db: Settings, database: Database) -> None:
    client = make_client(build_app(desk_db, database))
    token = Links(desk_db).unsubscribe_token(1)
    for path in (f"/desk/?token={token}", f"/desk/set-password/{token}", f"/desk/subscribers?t={token}"):
        response = client.get(path)
        assert response.status_code in (303, 404), path
        assert "reader1@example.org" not in response.text


def test_posts_without_the_sessions_csrf_token_are_refused(desk_db: Settings, database: Database) -> None:
    client = signed_in_client(desk_db, database)
    app = client.app
    posts = [(m, p) for m, p in private_routes(app) if m == "POST"]
    assert len(posts) >= 10
    other = make_client(app)
    add_editor(database, "bob")
    assert sign_in(other, "bob").status_code == 303
    foreign = desk_csrf(other)  # a real token, of another session
    for _, path in posts:
        for data in ({}, {"csrf": ""}, {"csrf": "x" * 40}, {"csrf": foreign}):
            response = client.post(path, data=data)
            assert response.status_code == 403, (path, data)
    good = desk_csrf(client)
    response = client.post(
        "/desk/editions/2011-07-11-weekly-highlights/pause",
        data={"csrf": good},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403 and "own pages" in response.text
    assert database.ledger.find_edition("2011-07-11-weekly-highlights").status == "draft"  # type: ignore[union-attr]
    assert database.store.get(1).status == "confirmed"


def test_twenty_wrong_passwords_are_rate_limited_without_saying_which_half(
    desk_db: Settings, database: Database
) -> None:
    add_editor(database)
    client = make_client(build_app(desk_db, database))
    statuses = []
    for _ in range(20):
        response = sign_in(client, "ann", "wrong password!")
        statuses.append(response.status_code)
        assert COOKIE not in response.headers.get("set-cookie", "")
    assert statuses[:10] == [403] * 10
    assert statuses[10:] == [429] * 10
    # Past the limit even the right password is refused, and says nothing of the password.
    response = sign_in(client, "ann", PASSWORD)
    assert response.status_code == 429 and "Too many sign-in attempts" in response.text
    assert response.headers["retry-after"]


def test_a_wrong_name_and_a_wrong_password_read_the_same(desk_db: Settings, database: Database) -> None:
    add_editor(database)
    client = make_client(build_app(desk_db, database))
    wrong_password = sign_in(client, "ann", "not the password")
    wrong_name = sign_in(client, "nobody", PASSWORD)
    assert wrong_password.status_code == wrong_name.status_code == 403

    def message(response: Any) -> str:
        return re.search(r'role="alert"[^>]*>([^<]+)<', response.text).group(1)  # type: ignore[union-attr]

    assert (
        message(wrong_password)
        == message(wrong_name)
        == ("That name and password do not match an editor of this desk.")
    )


def test_the_ip_limit_holds_across_names(desk_db: Settings, database: Database) -> None:
    client = make_client(build_app(desk_db.replace(desk_signin_limit_per_ip=5), database))
    codes = [sign_in(client, f"name{i}", "guess").status_code for i in range(7)]
    assert codes == [403] * 5 + [429] * 2


@pytest.mark.parametrize("store", ["database", "redis"])
def test_two_processes_serving_the_desk_count_one_editors_attempts_together(
    desk_db: Settings, database: Database, store: str
) -> None:
    """Two apps over one store stand for `serve --workers 2` (or two hosts behind a proxy): the 10
    attempts allowed for a name are 10 in all, not 10 in each."""
    settings = desk_db
    if store == "redis":
        if not port_open("127.0.0.1", 6379):
            unavailable("Redis is not reachable on 127.0.0.1:6379")
        settings = desk_db.replace(redis_url="redis://127.0.0.1:6379/0", **unique_names())
    add_editor(database)
    first, second = (make_client(build_app(settings, database)) for _ in range(2))
    codes = [sign_in(first if i % 2 else second, "ann", "wrong password!").status_code for i in range(12)]
    assert codes == [403] * 10 + [429] * 2
    assert sign_in(first, "ann").status_code == sign_in(second, "ann").status_code == 429


def test_session_cookie_flags(desk_db: Settings, database: Database) -> None:
    add_editor(database)
    https = sign_in(make_client(build_app(desk_db, database)))
    cookie = https.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for flag in ("HttpOnly", "Secure", "SameSite=lax", "Path=/desk"):
        assert flag.lower() in cookie.lower(), flag
    plain = sign_in(make_client(build_app(desk_db.replace(base_url="http://127.0.0.1:8000"), database)))
    assert "secure" not in plain.headers["set-cookie"].lower()


def test_the_password_link_works_once_and_a_new_password_ends_old_sessions(
    desk_db: Settings, database: Database
) -> None:
    store = EditorStore(database.sessions, TEST_MEMORY_KIB)
    editor = store.add("cleo")
    sessions = DeskSessions(desk_db.secret_key, hours=1, https=True)
    token = sessions.password_link_token(editor.id, generation(editor))
    client = make_client(build_app(desk_db, database))
    page = client.get(f"/desk/set-password/{token}")
    assert page.status_code == 200 and "Set your password, cleo" in page.text
    form = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    short = client.post(
        f"/desk/set-password/{token}", data={"csrf": form, "password": "short", "repeat": "short"}
    )
    assert short.status_code == 422 and "at least 10 characters" in short.text
    done = client.post(
        f"/desk/set-password/{token}",
        data={"csrf": form, "password": "a long new password", "repeat": "a long new password"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/desk/"
    assert client.get("/desk/").status_code == 200  # signed in by setting it
    again = client.get(f"/desk/set-password/{token}")
    assert again.status_code == 404 and "no longer works" in again.text  # one time only
    # A new password (here set directly, as `editors reset` then the link would) ends that session.
    store.set_password(editor.id, "another long password")
    assert client.get("/desk/").status_code == 303


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/elsewhere", "/desk\\@evil"]
)
def test_sign_in_never_redirects_off_the_desk(desk_db: Settings, database: Database, target: str) -> None:
    add_editor(database)
    client = make_client(build_app(desk_db, database))
    page = client.get("/desk/sign-in")
    form = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/desk/sign-in", data={"name": "ann", "password": PASSWORD, "csrf": form, "next": target}
    )
    assert response.status_code == 303 and response.headers["location"] == "/desk/"


def test_desk_pages_carry_a_strict_csp_and_the_preview_is_sandboxed(
    desk_db: Settings, database: Database
) -> None:
    client = signed_in_client(desk_db, database)
    page = client.get("/desk/editions/2011-07-11-weekly-highlights")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script>" not in page.text and " on" + "click" not in page.text
    preview = client.get("/desk/editions/2011-07-11-weekly-highlights/preview.html")
    assert "sandbox" in preview.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in preview.headers["content-security-policy"]
    assert preview.headers["x-frame-options"] == "SAMEORIGIN"
    signup = client.get("/")  # the public pages keep their own policy
    assert "script-src" not in signup.headers["content-security-policy"]


def test_a_body_larger_than_the_desk_takes_is_refused_before_it_is_read(
    desk_db: Settings, database: Database
) -> None:
    client = signed_in_client(desk_db, database)
    csrf = desk_csrf(client)
    huge = b"email\n" + b"x" * 61_000_000
    response = client.post("/desk/subscribers/import", files={"file": ("big.csv", huge)}, data={"csrf": csrf})
    assert response.status_code == 413 and "more than the desk takes" in response.text
    assert database.store.count_by_status()["pending"] == 0


def test_the_desk_is_built_by_its_first_request_and_answers_it(desk_db: Settings, database: Database) -> None:
    """Until someone opens the desk one route stands for all of it; whatever that first request is, it
    gets the desk's own answer, and unknown desk paths are still not found."""
    app = build_app(desk_db, database)
    assert not hasattr(app.state, "desk")
    client = make_client(app)
    assert client.get("/desk/nothing-here").status_code == 404
    assert hasattr(app.state, "desk")
    page = client.get("/desk/sign-in")
    assert page.status_code == 200 and 'name="password"' in page.text
    assert client.get("/desk/still-nothing").status_code == 404
    assert not [r for r in app.router.routes if getattr(r, "path", "") == "/desk/{rest:path}"]


def test_a_first_desk_request_without_a_session_is_sent_to_sign_in(
    desk_db: Settings, database: Database
) -> None:
    client = make_client(build_app(desk_db, database))
    response = client.get("/desk/subscribers")
    assert response.status_code == 303 and response.headers["location"].startswith("/desk/sign-in")


def test_a_desk_that_fails_to_build_is_built_by_the_next_request(
    desk_db: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure while building (a store that is down for a moment, say) is that request's 500, not a
    desk that stays missing until the server restarts."""
    real_build, calls = desk.build, []

    def build_once_failing(app: Any, web: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the store is down")
        real_build(app, web)

    monkeypatch.setattr(desk, "build", build_once_failing)
    client = make_client(build_app(desk_db, database), raise_server_exceptions=False)
    assert client.get("/desk/sign-in").status_code == 500
    page = client.get("/desk/sign-in")
    assert page.status_code == 200 and 'name="password"' in page.text
    assert client.get("/desk/sign-in").status_code == 200 and len(calls) == 2
