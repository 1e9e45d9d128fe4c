"""The signup answer takes the same work, and so the same time, whatever the address's state.

Two proofs. Exact: the SQL a post runs before its answer is complete is the same, statement for
statement, for a new, pending, confirmed, unsubscribed, bounced or complained address (what differs
runs after, and is checked to still happen). Statistical: the server's time to answer many
interleaved posts for new and for confirmed addresses, compared as two samples (Mann-Whitney at a
fixed seed, with a generous threshold); no single request's time is asserted.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from newsletter.config import Settings
from newsletter.database import Database
from subscribers.models import Status
from subscribers.store import Consent
from tests.support.timing import mann_whitney
from tests.support.web_helpers import build_app, csrf_of, make_client, outbox

STATES = (None, Status.pending, Status.confirmed, Status.unsubscribed, Status.bounced, Status.complained)


def _put_in_state(database: Database, address: str, state: Status | None) -> None:
    if state is None:
        return
    initial = Status.pending if state is Status.pending else Status.confirmed
    added = database.store.add(address, "Old", status=initial, consent=Consent(source="test"))
    if state not in (Status.pending, Status.confirmed):
        database.store.transition(added.id, state, Consent(source="test"))


class AnswerWatch:
    """ASGI wrapper noting when the response has been sent in full (so SQL can be split before/after)
    and how long the server took to get there."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.answered = False
        self.elapsed = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()

        async def watched(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.elapsed = time.perf_counter() - started
                self.answered = True

        self.answered = False
        await self.app(scope, receive, watched)


class StatementLog:
    """Every SQL statement the engine runs, marked with whether the answer had been sent by then."""

    def __init__(self, watch: AnswerWatch) -> None:
        self.watch = watch
        self.rows: list[tuple[bool, str, int]] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        shape = len(parameters) if isinstance(parameters, (list, tuple, dict)) else 0
        self.rows.append((self.watch.answered, " ".join(statement.split()), shape))

    def split(self) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        before = [(sql, shape) for answered, sql, shape in self.rows if not answered]
        after = [(sql, shape) for answered, sql, shape in self.rows if answered]
        return before, after


@pytest.fixture
def watched(settings: Settings, database: Database) -> Iterator[tuple[AnswerWatch, StatementLog]]:
    watch = AnswerWatch(build_app(settings, database))
    log = StatementLog(watch)
    event.listen(database.engine, "before_cursor_execute", log)
    yield watch, log
    event.remove(database.engine, "before_cursor_execute", log)


def test_every_state_runs_the_same_statements_before_the_answer(
    settings: Settings, database: Database, watched: tuple[AnswerWatch, StatementLog]
) -> None:
    watch, log = watched
    for index, state in enumerate(STATES):
        _put_in_state(database, f"s{index}@example.org", state)
    before: dict[Status | None, list[tuple[str, int]]] = {}
    after: dict[Status | None, list[tuple[str, int]]] = {}
    with make_client(watch) as client:
        for index, state in enumerate(STATES):
            token = csrf_of(client.get("/").text)
            log.rows.clear()
            response = client.post(
                "/subscribe",
                data={"email": f"S{index}@Example.org", "name": "New", "csrf": token, "website": ""},
            )
            assert response.status_code == 200
            before[state], after[state] = log.split()
    reference = before[None]
    # Before the answer a post writes the attempt, and the per-IP limit's hit (kept in the database when
    # no Redis is configured: it depends on the client's address, never on the subscriber's state).
    assert [sql.split(" (")[0] for sql, _ in reference if sql.startswith("INSERT")] == [
        "INSERT INTO rate_limit_hits",
        "INSERT INTO signup_attempts",
    ], reference
    for state in STATES:
        assert before[state] == reference, f"a post for a {state or 'new'} address runs other statements"
    # What depends on the state still happens, after the answer.
    assert any("subscribers" in sql for sql, _ in after[None])
    assert after[None] != after[Status.confirmed]
    assert database.store.find("s2@example.org").status is Status.confirmed  # type: ignore[union-attr]
    for index in (0, 1, 3, 4, 5):
        assert database.store.find(f"s{index}@example.org").status is Status.pending  # type: ignore[union-attr]
    assert len(outbox(settings)) == 5  # every state but confirmed got a link


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_new_and_confirmed_addresses_cannot_be_told_apart_by_time(
    settings: Settings, database: Database
) -> None:
    """The server's own time to answer (the socket adds only noise), many interleaved posts per kind.

    Before the fix, on this project's machine: P(new slower) = 0.83 and one request told them apart
    86% of the time (bench/bench_signup_timing.py).
    """
    per_state = 150
    confirmed = [f"known{i}@example.org" for i in range(per_state)]
    fresh = [f"fresh{i}@example.org" for i in range(per_state)]
    database.store.add_many(
        [(a, "") for a in confirmed], status=Status.confirmed, consent=Consent(source="t")
    )
    order = [f"warm{i}@example.org" for i in range(20)] + random.Random(13).sample(
        confirmed + fresh, 2 * per_state
    )
    watch = AnswerWatch(build_app(settings, database, signup_limit_per_ip=100_000, transport="discard"))
    times: dict[str, float] = {}
    with make_client(watch) as client:
        for address in order:
            token = csrf_of(client.get("/").text)
            data = {"email": address, "name": "", "csrf": token, "website": ""}
            assert client.post("/subscribe", data=data).status_code == 200
            times[address] = watch.elapsed
    slower, p_value = mann_whitney([times[a] for a in fresh], [times[a] for a in confirmed])
    assert 0.3 < slower < 0.7, f"P(new slower than confirmed) = {slower:.2f}, p = {p_value:.2g}"
