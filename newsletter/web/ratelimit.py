"""Rate limits for the signup form, so it cannot be used to bomb someone's inbox.

``signup_limiter`` is what the web app uses: a limit shared by every process and host serving the form
(``serve --workers N``, several machines behind a proxy), counted in Redis when ``redis_url`` is set and
in the database otherwise (``newsletter.shared_limits``). ``SlidingWindowLimiter`` below is the same
limit within one process, for callers that own the only process.

A sliding-window log per key (the times of the recent hits), checked and recorded under one lock, so
200 simultaneous requests for one key let exactly ``limit`` through: the check and the append are one
step, never two. The web app runs its routes in a thread pool, hence a ``threading.Lock``; holding it
costs microseconds. Memory is bounded: past ``max_keys`` keys, expired ones are swept, and if the table
is still full the oldest keys are forgotten (failing open for them rather than growing without bound).

"""

from __future__ import annotations

import collections
import ipaddress
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.readers.signup import Limiter
from newsletter.shared_limits import DatabaseWindowLimiter, RedisWindowLimiter

if TYPE_CHECKING:
    import redis

DEFAULT_MAX_KEYS = 100_000


class SlidingWindowLimiter:
    """At most ``limit`` hits per ``window`` seconds for each key; ``limit <= 0`` switches it off."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = float(window)
        self._max_keys = max_keys
        self._clock = clock
        self._hits: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Record a hit and return 0.0, or return the seconds to wait (the hit is then not recorded)."""
        if self.limit <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= self._max_keys:
                    self._make_room(now)
                hits = self._hits[key] = collections.deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(hits[0] + self.window - now, 0.001)
            hits.append(now)
            return 0.0

    def _make_room(self, now: float) -> None:
        expired = [key for key, hits in self._hits.items() if not hits or hits[-1] <= now - self.window]
        for key in expired:
            del self._hits[key]
        excess = len(self._hits) - self._max_keys + 1
        for key in list(self._hits)[: max(excess, 0)]:
            del self._hits[key]

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()

    def __len__(self) -> int:
        return len(self._hits)


def signup_limiter(
    settings: Settings,
    sessions: sessionmaker[Session],
    redis_client: redis.Redis | None,
    name: str,
    limit: int,
) -> Limiter:
    """``limit`` hits per ``rate_limit_window`` per key, in the store every serving process shares."""
    return shared_limiter(
        settings, sessions, redis_client, f"signup:{name}:", limit, settings.rate_limit_window
    )


def shared_limiter(
    settings: Settings,
    sessions: sessionmaker[Session],
    redis_client: redis.Redis | None,
    name: str,
    limit: int,
    window: float,
) -> Limiter:
    """``limit`` hits per ``window`` seconds per key under ``name``: in Redis when the app has a client,
    else in the database (signups, and the desk's sign-in attempts)."""
    if redis_client is not None:
        return RedisWindowLimiter(redis_client, f"{settings.redis_prefix}{name}", limit, window)
    return DatabaseWindowLimiter(sessions, name, limit, window)


def client_key(host: str | None) -> str:
    """The rate-limit key of a client address: the address for IPv4, its /64 network for IPv6.

    One IPv6 host usually holds a whole /64, so counting single addresses would let it rotate freely.
    """
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address.ipv4_mapped or address) if isinstance(address, ipaddress.IPv6Address) else str(address)
