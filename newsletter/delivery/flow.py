"""Flow control for a send: how fast (token bucket), when to try again (backoff), when to stop (threshold).

Each piece is a small object with an injectable clock, so the send loop's behaviour can be tested
without waiting and without asserting on wall time:

- ``TokenBucket`` caps the rate of messages handed to a transport. Providers and receiving MTAs throttle
  senders that burst; a steady rate keeps a send under a plan's limits and a new IP's reputation warm.
- ``Backoff`` spaces the retries of a temporary failure exponentially with full jitter, so thousands of
  deferred deliveries do not all come back in the same second, and a server's own hint (Retry-After,
  X-RateLimit-Reset) always wins when it asks for longer.
- ``ErrorThreshold`` watches the last results and trips when too many fail: a blocklisted IP or a broken
  relay then pauses the send after a few hundred messages instead of burning through the whole list.
"""

from __future__ import annotations

import collections
import random
import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; ``rate <= 0`` means no limit.

    Thread-safe: SMTP workers may share one bucket. ``acquire`` sleeps outside the lock.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._stamp = clock()
        self._lock = threading.Lock()

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def _reserve(self, tokens: float) -> float:
        """Take ``tokens`` now (the balance may go negative) and return how long to wait for them."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= tokens
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self, tokens: float = 1.0) -> float:
        """Block until ``tokens`` may be spent; returns the seconds waited."""
        if self.unlimited:
            return 0.0
        wait = self._reserve(tokens)
        if wait > 0:
            self._sleep(wait)
        return wait


class Backoff:
    """Delay before retry number ``attempt`` (1 = first retry): ``base * 2**(attempt-1)``, capped, jittered.

    Full jitter (a uniform draw between half the step and the whole step) keeps the average close to the
    exponential schedule while spreading a burst of deferrals. A ``hint`` from the server (seconds) is a
    floor: a server that says "come back in 60 s" is never retried sooner.
    """

    def __init__(self, base: float, cap: float, *, rng: random.Random | None = None) -> None:
        self.base = max(0.0, base)
        self.cap = max(self.base, cap)
        self._rng = rng or random.Random()

    def delay(self, attempt: int, hint: float | None = None) -> float:
        step = min(self.cap, self.base * (2 ** max(0, attempt - 1)))
        delay = self._rng.uniform(step / 2, step) if step > 0 else 0.0
        return max(delay, hint) if hint is not None else delay


class ErrorThreshold:
    """Trips when more than ``share`` of the last ``window`` results failed (after ``min_samples`` results).

    ``share >= 1`` disables it. Once tripped it stays tripped for this send; the reason says what was seen.
    """

    def __init__(self, share: float, window: int, min_samples: int | None = None) -> None:
        self.share = share
        self.window = max(1, window)
        self.min_samples = min(self.window, min_samples if min_samples is not None else max(20, window // 4))
        self._recent: collections.deque[bool] = collections.deque(maxlen=self.window)
        self._failures = 0
        self.last_error = ""
        self.tripped = False

    def observe(self, ok: bool, error: str = "") -> bool:
        """Record one result; True when this result trips the threshold."""
        if len(self._recent) == self._recent.maxlen and not self._recent[0]:
            self._failures -= 1
        self._recent.append(ok)
        if not ok:
            self._failures += 1
            self.last_error = error or self.last_error
        if self.tripped or self.share >= 1 or len(self._recent) < self.min_samples:
            return False
        if self._failures / len(self._recent) > self.share:
            self.tripped = True
            return True
        return False

    @property
    def reason(self) -> str:
        return (
            f"{self._failures} of the last {len(self._recent)} messages failed "
            f"(threshold {self.share:.0%}); last error: {self.last_error or 'none recorded'}"
        )
