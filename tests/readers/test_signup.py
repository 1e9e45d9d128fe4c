"""The signup flow below the web: store requests per state, purge, export and erase (also via the CLI),
rate limiter and CSRF tokens."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from newsletter.cli.app import app as cli
from newsletter.config import Settings
from newsletter.database import Database
from newsletter.web.ratelimit import SlidingWindowLimiter, client_key
from newsletter.web.security import CsrfResult, CsrfTokens
from subscribers.errors import TransitionRefused
from subscribers.models import ConsentEvent, ConsentKind, Status
from subscribers.store import Consent

WEB = Consent(source="web:form", ip="203.0.113.9", user_agent="Firefox/140", detail={"form": "signup page"})


def _cli(settings: Settings, tmp_path: Path, *args: str) -> tuple[int, str]:
    config = tmp_path / "newsletter.toml"
    config.write_text(
        f'database_url = "{settings.database_url}"\nsecret_key = "{settings.secret_key}"\n'
        f'outbox_dir = "{settings.outbox_dir}"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("before", "mails", "after"),
    [
        (None, True, Status.pending),
        (Status.pending, True, Status.pending),
        (Status.confirmed, False, Status.confirmed),
        (Status.unsubscribed, True, Status.pending),
        (Status.bounced, True, Status.pending),
        (Status.complained, True, Status.pending),
    ],
)
def test_request_handles_every_state(
    database: Database, before: Status | None, mails: bool, after: Status
) -> None:
    store = database.store
    if before is not None:
        added = store.add(
            "a@example.org",
            "Old Name",
            status=Status.confirmed if before is not Status.pending else Status.pending,
            consent=Consent(source="test"),
        )
        if before not in (Status.pending, Status.confirmed):
            store.transition(added.id, before, Consent(source="test"))
    outcome = store.request("A@Example.org", "New Name", WEB)
    assert outcome.previous is before and outcome.send_confirmation is mails
    subscriber = store.get(outcome.subscriber_id)
    assert subscriber.status is after
    assert subscriber.name == ("Old Name" if before is Status.confirmed else "New Name")
    events = store.events(subscriber.id)
    if mails:
        assert events[-1].kind is ConsentKind.signup and events[-1].ip == "203.0.113.9"
        assert events[-1].user_agent == "Firefox/140" and events[-1].source == "web:form"


def test_concurrent_requests_for_one_address_make_one_row(database: Database) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(16)

    def one() -> None:
        try:
            barrier.wait(10)
            database.store.request("race@example.org", "", WEB)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert database.store.count_by_status()["pending"] == 1


def test_purge_pending_forgets_stale_unconfirmed_signups(database: Database) -> None:
    store = database.store
    never = store.request("never@example.org", "N", WEB).subscriber_id
    former = store.add("former@example.org", status=Status.confirmed, consent=Consent(source="t")).id
    store.unsubscribe(former, Consent(source="t"))
    store.request("former@example.org", "", WEB)
    keep = store.add("kept@example.org", status=Status.confirmed, consent=Consent(source="t")).id
    now = dt.datetime.now(dt.UTC)
    assert store.purge_pending(dt.timedelta(days=30), now=now) == 0  # nothing is 30 days old yet
    assert store.purge_pending(dt.timedelta(days=30), now=now + dt.timedelta(days=31)) == 2
    assert store.find("never@example.org") is None
    assert store.get(former).status is Status.unsubscribed  # had confirmed once: history kept
    assert store.events(former)[-1].kind is ConsentKind.purged
    assert store.get(keep).status is Status.confirmed
    assert store.events(never) == []
    with database.sessions() as session:
        orphans = list(session.scalars(select(ConsentEvent).where(ConsentEvent.subscriber_id.is_(None))))
    assert {e.kind for e in orphans} == {ConsentKind.signup, ConsentKind.purged}
    assert all(e.ip is None and e.user_agent is None for e in orphans)


def test_export_and_erase_from_the_command_line(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    store = database.store
    outcome = store.request("Person@Example.org", "Pat Person", WEB)
    store.confirm_request(outcome.subscriber_id, Consent(source="web:confirm link", ip="203.0.113.9"))

    code, output = _cli(settings, tmp_path, "subscribers", "export-data", "person@example.org")
    assert code == 0, output
    data = json.loads(output)
    assert data["subscriber"]["email"] == "person@example.org" and data["subscriber"]["name"] == "Pat Person"
    assert [e["kind"] for e in data["consent_events"]] == ["signup", "confirmed"]
    assert data["consent_events"][0]["ip"] == "203.0.113.9"
    assert data["deliveries"] == [] and data["feedback"] == []

    code, output = _cli(settings, tmp_path, "subscribers", "erase", "person@example.org")
    assert code == 0 and "erased" in output
    assert store.find("person@example.org") is None
    assert store.is_suppressed("person@example.org")
    kept = store.get(outcome.subscriber_id)
    assert kept.status is Status.unsubscribed and kept.name == "" and "person" not in kept.email
    events = store.events(outcome.subscriber_id)
    assert all(e.ip is None and e.user_agent is None and e.detail == "" for e in events)
    assert events[-1].kind is ConsentKind.erased
    code, output = _cli(settings, tmp_path, "subscribers", "export-data", "person@example.org")
    left = json.loads(output)
    assert left["subscriber"] is None and left["suppression"]["reason"] == "erased"

    # An erased address cannot be re-added by an operator; only fresh consent brings it back.
    with pytest.raises(TransitionRefused):
        store.add("person@example.org", consent=Consent(source="cli"))
    rows = [("person@example.org", "")]
    assert store.add_many(rows, status=Status.confirmed, consent=Consent(source="import")) == 0
    again = store.request("person@example.org", "", WEB)
    assert again.previous is None and again.send_confirmation
    assert store.confirm_request(again.subscriber_id, Consent(source="web:confirm link"))
    assert not store.is_suppressed("person@example.org")


def test_purge_pending_command(settings: Settings, database: Database, tmp_path: Path) -> None:
    database.store.request("recent@example.org", "", WEB)
    code, output = _cli(settings, tmp_path, "subscribers", "purge-pending", "--older-than", "1")
    assert code == 0 and "purged 0" in output
    assert database.store.find("recent@example.org") is not None


def test_limiter_lets_exactly_the_limit_through_under_concurrency() -> None:
    limiter = SlidingWindowLimiter(7, 60)
    allowed: list[float] = []
    barrier = threading.Barrier(50)

    def one() -> None:
        barrier.wait(10)
        allowed.append(limiter.hit("203.0.113.9"))

    threads = [threading.Thread(target=one) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(1 for wait in allowed if wait == 0) == 7


def test_limiter_window_slides_and_memory_is_bounded() -> None:
    now = [1000.0]
    limiter = SlidingWindowLimiter(2, 10, max_keys=100, clock=lambda: now[0])
    assert limiter.hit("k") == 0 and limiter.hit("k") == 0
    assert limiter.hit("k") == pytest.approx(10)
    now[0] += 5
    assert limiter.hit("k") == pytest.approx(5)
    now[0] += 5.01
    assert limiter.hit("k") == 0
    for i in range(1000):
        limiter.hit(f"key{i}")
    assert len(limiter) <= 100
    assert SlidingWindowLimiter(0, 10).hit("k") == 0  # 0 switches it off


def test_client_key_groups_ipv6_by_64() -> None:
    assert client_key("2001:db8:1:2:3:4:5:6") == client_key("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert client_key("203.0.113.9") == "203.0.113.9"
    assert client_key("::ffff:203.0.113.9") == "203.0.113.9"
    assert client_key(None) == "unknown"


def test_csrf_tokens_are_signed_and_expire() -> None:
    tokens = CsrfTokens("a-secret-of-at-least-16-chars", ttl_seconds=3600)
    token = tokens.issue(now=10_000)
    assert tokens.check(token, now=10_100) is CsrfResult.ok
    assert tokens.check(token, now=20_000) is CsrfResult.expired
    issued, nonce, signature = token.split(".")
    assert tokens.check(f"{int(issued, 16) + 1:x}.{nonce}.{signature}", now=10_100) is CsrfResult.invalid
    assert tokens.check(token, now=10_100) is CsrfResult.ok
    assert CsrfTokens("another-secret-16-chars-long").check(token, now=10_100) is CsrfResult.invalid
    for bad in (None, "", "a.b", "ä.b.c", "x" * 200):
        assert tokens.check(bad, now=10_100) is CsrfResult.invalid
