"""Flow control with a fake clock: rates, backoff schedules and the error threshold, never wall time."""

from __future__ import annotations

import random

import pytest

from newsletter.delivery.flow import Backoff, ErrorThreshold, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_bucket_allows_a_burst_then_paces_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, burst=5, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(5):
        assert bucket.acquire() == 0
    for _ in range(20):
        bucket.acquire()
    assert clock.now - start == pytest.approx(2.0)  # 20 more tokens at 10/s
    assert all(s == pytest.approx(0.1) for s in clock.slept)


def test_an_idle_bucket_saves_up_no_more_than_its_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100, burst=10, clock=clock, sleep=clock.sleep)
    clock.now += 3600
    for _ in range(10):
        bucket.acquire()
    assert clock.slept == []
    bucket.acquire()
    assert clock.slept == [pytest.approx(0.01)]


def test_rate_zero_means_no_limit() -> None:
    clock = FakeClock()
    bucket = TokenBucket(0, clock=clock, sleep=clock.sleep)
    for _ in range(10_000):
        bucket.acquire()
    assert bucket.unlimited and clock.slept == []


def test_backoff_doubles_with_jitter_and_stops_at_the_cap() -> None:
    backoff = Backoff(10, 100, rng=random.Random(7))
    for attempt, step in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)]:
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(step / 2 <= d <= step for d in delays)
        assert max(delays) - min(delays) > step / 4  # spread out, not all at once


def test_a_server_hint_is_a_floor_even_beyond_the_cap() -> None:
    backoff = Backoff(1, 10, rng=random.Random(1))
    assert backoff.delay(1, hint=300) == 300
    assert 0.5 <= backoff.delay(1, hint=0.1) <= 1


def test_the_threshold_trips_on_a_failing_window_and_says_why() -> None:
    threshold = ErrorThreshold(0.2, window=100, min_samples=50)
    for _ in range(45):
        assert not threshold.observe(False, "421 too many connections")  # below min_samples
    for _ in range(4):
        assert not threshold.observe(True)
    assert threshold.observe(True)  # 50 results, 45 failed
    assert threshold.tripped
    assert "45 of the last 50" in threshold.reason and "421 too many connections" in threshold.reason


def test_the_threshold_forgets_failures_that_left_the_window() -> None:
    threshold = ErrorThreshold(0.2, window=50, min_samples=50)
    for _ in range(10):
        threshold.observe(False, "x")
    for _ in range(1000):
        assert not threshold.observe(True)
    for _ in range(10):
        assert not threshold.observe(False)  # 10 of the last 50: exactly 20%, not more
    assert threshold.observe(False)


def test_a_threshold_of_one_never_trips() -> None:
    threshold = ErrorThreshold(1.0, window=10)
    assert not any(threshold.observe(False) for _ in range(100))
