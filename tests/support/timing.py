"""Comparing two samples of response times without trusting any single one of them.

Used by the signup timing test and by ``bench/bench_signup_timing.py``: the Mann-Whitney U statistic
(as the probability that a request of the first kind is slower than one of the second, 0.5 when
nothing tells them apart) and the best a one-request guesser could do with a threshold.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import httpx

from tests.support.web_helpers import csrf_of


def mann_whitney(first: Sequence[float], second: Sequence[float]) -> tuple[float, float]:
    """(P(first > second), two-sided p-value by the normal approximation), ties ranked by average."""
    labelled = sorted([(value, 0) for value in first] + [(value, 1) for value in second])
    rank_sum = 0.0
    index = 0
    while index < len(labelled):
        end = index
        while end + 1 < len(labelled) and labelled[end + 1][0] == labelled[index][0]:
            end += 1
        average = (index + end) / 2 + 1
        rank_sum += average * sum(1 for _, group in labelled[index : end + 1] if group == 0)
        index = end + 1
    n1, n2 = len(first), len(second)
    u = rank_sum - n1 * (n1 + 1) / 2
    z = (u - n1 * n2 / 2) / math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
    return u / (n1 * n2), math.erfc(abs(z) / math.sqrt(2))


def best_guess_accuracy(first: Sequence[float], second: Sequence[float]) -> float:
    """How often one request's time alone tells its kind, with the best threshold (0.5: a coin toss)."""
    values = sorted(set(first) | set(second))
    best = 0.5
    for threshold in values:
        above_first = sum(1 for v in first if v > threshold) / len(first)
        above_second = sum(1 for v in second if v > threshold) / len(second)
        best = max(best, (above_first + 1 - above_second) / 2, (above_second + 1 - above_first) / 2)
    return best


def timed_posts(base_url: str, addresses: Sequence[str]) -> list[float]:
    """Sign each address up in turn as a browser would, timing only the POST (seconds each)."""
    times: list[float] = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for address in addresses:
            token = csrf_of(client.get("/").text)
            data = {"email": address, "name": "", "csrf": token, "website": ""}
            started = time.perf_counter()
            response = client.post("/subscribe", data=data)
            times.append(time.perf_counter() - started)
            response.raise_for_status()
    return times
