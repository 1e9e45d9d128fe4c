"""Limits shared by processes: the signup window and the send-rate bucket, in Redis and in the database."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator

import pytest

from newsletter.config import Settings
from newsletter.database import Database, open_database
from newsletter.shared_limits import (
    DatabaseWindowLimiter,
    RedisWindowLimiter,
    SharedStoreUnavailable,
    SharedTokenBucket,
    connect_redis,
)
from tests.support.services import port_open, unavailable

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_client() -> Iterator[object]:
    if not port_open("127.0.0.1", 6379):
        unavailable("Redis is not reachable on 127.0.0.1:6379")
    client = connect_redis(REDIS_URL)
    prefix = f"test:{uuid.uuid4().hex}:"
    yield client, prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def _hits_in_a_process(
    settings: Settings, store: str, prefix: str, tries: int, out: multiprocessing.Queue
) -> None:
    database = open_database(settings)
    limiter = (
        RedisWindowLimiter(connect_redis(REDIS_URL), prefix, 7, 60)
        if store == "redis"
        else DatabaseWindowLimiter(database.sessions, prefix, 7, 60)
    )
    out.put(sum(1 for _ in range(tries) if limiter.hit("203.0.113.9") == 0))
    database.close()


@pytest.mark.parametrize("store", ["database", "redis"])
def test_four_processes_together_get_exactly_the_limit(
    settings: Settings, database: Database, store: str, request: pytest.FixtureRequest
) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    if store == "redis":
        prefix = request.getfixturevalue("redis_client")[1]
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = context.Queue()
    workers = [
        context.Process(target=_hits_in_a_process, args=(settings, store, prefix, 6, out)) for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    allowed = [out.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert sum(allowed) == 7  # 24 tries, 7 allowed, wherever they came from


@pytest.mark.parametrize("store", ["database", "redis"])
def test_the_window_slides_and_says_how_long_to_wait(
    database: Database, store: str, request: pytest.FixtureRequest
) -> None:
    now = [1_000_000.0]
    if store == "redis":
        client, prefix = request.getfixturevalue("redis_client")
        limiter: RedisWindowLimiter | DatabaseWindowLimiter = RedisWindowLimiter(
            client, prefix, 2, 10, clock=lambda: now[0]
        )
    else:
        limiter = DatabaseWindowLimiter(database.sessions, "t:", 2, 10, clock=lambda: now[0])
    assert limiter.hit("k") == 0 and limiter.hit("k") == 0
    assert limiter.hit("k") == pytest.approx(10)
    now[0] += 5
    assert limiter.hit("k") == pytest.approx(5)
    assert limiter.hit("other") == 0  # keys are counted apart
    now[0] += 5.5
    assert limiter.hit("k") == 0
    assert (
        type(limiter)(*([client, prefix] if store == "redis" else [database.sessions, "t:"]), 0, 10).hit("k")
        == 0
    )


def test_an_unreachable_redis_refuses_rather_than_letting_everything_through() -> None:
    limiter = RedisWindowLimiter(connect_redis("redis://127.0.0.1:1/0"), "x:", 3, 60)
    with pytest.raises(SharedStoreUnavailable, match="did not answer"):
        limiter.hit("k")


@pytest.mark.parametrize("store", ["database", "redis"])
def test_the_token_bucket_grants_the_rate_and_no_more(
    database: Database, store: str, request: pytest.FixtureRequest
) -> None:
    now = [5_000.0]
    if store == "redis":
        client, prefix = request.getfixturevalue("redis_client")
        bucket = SharedTokenBucket(f"{prefix}send", 100, client=client, clock=lambda: now[0])
    else:
        bucket = SharedTokenBucket("send:1", 100, sessions=database.sessions, clock=lambda: now[0])
    granted, wait = bucket.take(150)
    assert granted == 100 and wait == pytest.approx(0.5)  # a burst of one second's worth, then the rate
    total = granted
    for _ in range(200):  # two simulated seconds in 10 ms steps, asking for more than the rate
        now[0] += 0.01
        got, _ = bucket.take(5)
        total += got
    assert 300 <= total <= 311
    bucket.reset()
    assert bucket.take(1) == (1, 0.0)
