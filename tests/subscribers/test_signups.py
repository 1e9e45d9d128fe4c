"""Signup attempts: recorded on the request path, applied once afterwards, never lost to a crash."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from newsletter.config import Settings
from newsletter.database import Database
from subscribers.models import ConsentKind, SignupAttempt, Status
from subscribers.signups import SignupQueue
from subscribers.store import Consent
from tests.support.web_helpers import build_app, make_client, outbox

WEB = Consent(source="web:form", ip="203.0.113.9", user_agent="Firefox/140", detail={"form": "signup page"})


def test_an_attempt_is_applied_once_with_its_evidence_and_time(database: Database) -> None:
    queue = SignupQueue(database.sessions)
    attempt = queue.record("ann@example.org", "Ann", WEB)
    assert database.store.find("ann@example.org") is None  # nothing on the list until applied
    with database.sessions() as session:
        recorded_at = session.get(SignupAttempt, attempt).at  # type: ignore[union-attr]
    applied = queue.apply(attempt)
    assert applied is not None and applied.request.send_confirmation and applied.email == "ann@example.org"
    assert queue.apply(attempt) is None  # a second worker finds nothing to do
    [event] = database.store.events(applied.request.subscriber_id)
    assert (event.kind, event.ip, event.user_agent, event.source) == (
        ConsentKind.signup,
        "203.0.113.9",
        "Firefox/140",
        "web:form",
    )
    assert event.at.replace(tzinfo=None) == recorded_at.replace(tzinfo=None)
    assert queue.waiting() == []


def test_racing_workers_apply_an_attempt_exactly_once(database: Database) -> None:
    queue = SignupQueue(database.sessions)
    attempts = [queue.record(f"r{i}@example.org", "", WEB) for i in range(10)]
    results: list[object] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait(10)
        for attempt in attempts:
            results.append(queue.apply(attempt))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(1 for r in results if r is not None) == 10
    with database.sessions() as session:
        signups = session.scalar(select(func.count()).where(SignupAttempt.id > 0))
        assert signups == 0
    assert database.store.count_by_status()["pending"] == 10
    for i in range(10):
        subscriber = database.store.find(f"r{i}@example.org")
        assert subscriber is not None and len(database.store.events(subscriber.id)) == 1


def test_attempts_left_by_a_crash_are_applied_when_the_app_starts(
    settings: Settings, database: Database
) -> None:
    queue = SignupQueue(database.sessions)
    queue.record("left@example.org", "Left", WEB)  # answered, then the process died before applying
    database.store.add("known@example.org", status=Status.confirmed, consent=Consent(source="t"))
    queue.record("known@example.org", "", WEB)
    with make_client(build_app(settings, database)):
        pass  # the start-up of the app
    left = database.store.find("left@example.org")
    assert left is not None and left.status is Status.pending
    assert queue.waiting() == []
    assert [p.name for p in outbox(settings)] and len(outbox(settings)) == 1  # the confirmed one gets none
