"""Limits that hold across processes and machines: sliding windows (signups) and token buckets (sends).

A limit kept in one process's memory is a limit per process: ``serve --workers 4`` would let four times
the signups through, and three Celery workers would send at three times ``send_rate``. These keep the
count in a store every process shares: Redis when ``redis_url`` is set (one Lua script per hit, atomic on
the server, timed by the server's clock), else the database every process already opens (one short
transaction per hit; on PostgreSQL an advisory lock per key makes check-and-record one step, on SQLite
the write lock does).

Both kinds answer the question their in-memory counterparts answer, so callers do not care where the
count lives: ``hit(key)`` returns 0.0 (allowed, counted) or the seconds to wait; ``take(n)`` returns
how many tokens were granted and how long to wait before asking again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Float, Index, String, Table, delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from newsletter.errors import ConfigError
from subscribers.db import Base
from subscribers.errors import StoreError
from subscribers.models import BigId

if TYPE_CHECKING:
    import redis

Clock = Callable[[], float]
SWEEP_EVERY = 500  # hits between sweeps of other keys' expired rows


class SharedStoreUnavailable(StoreError):
    """The shared store (Redis or the database) did not answer: the request is refused, not let through."""


class RateLimitHit(Base):
    """One counted hit of a sliding-window limit (database store): kept for one window, then swept."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_bucket_at", "bucket", "at"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(String(200))
    at: Mapped[float] = mapped_column(Float)  # seconds since the epoch: shared by every host


HITS: Table = RateLimitHit.__table__  # type: ignore[assignment]


class RateBucket(Base):
    """A token bucket every sending process draws from (database store)."""

    __tablename__ = "rate_buckets"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    stamp: Mapped[float] = mapped_column(Float)


BUCKETS: Table = RateBucket.__table__  # type: ignore[assignment]


def connect_redis(url: str) -> redis.Redis:
    import redis

    try:
        return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    except ValueError as exc:
        raise ConfigError(f"redis_url {url!r}: {exc}") from None


# -- sliding windows ----------------------------------------------------------------------------------

WINDOW_SCRIPT = """
local now = tonumber(ARGV[1])
if now < 0 then local t = redis.call('TIME'); now = tonumber(t[1]) + tonumber(t[2]) / 1000000 end
local window, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(math.max(tonumber(oldest[2]) + window - now, 0.001))
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
return '0'
"""


class RedisWindowLimiter:
    """At most ``limit`` hits per ``window`` seconds per key, counted in a Redis sorted set per key."""

    def __init__(
        self, client: redis.Redis, name: str, limit: int, window: float, *, clock: Clock | None = None
    ) -> None:
        self.limit, self.window, self._name = limit, float(window), name
        self._client, self._clock = client, clock
        self._script = client.register_script(WINDOW_SCRIPT)

    def hit(self, key: str) -> float:
        if self.limit <= 0:
            return 0.0
        import redis

        now = self._clock() if self._clock is not None else -1.0
        try:
            answer = self._script(
                keys=[f"{self._name}{key}"], args=[now, self.window, self.limit, uuid.uuid4().hex]
            )
        except redis.RedisError as exc:
            raise SharedStoreUnavailable(f"the rate limit store (Redis) did not answer: {exc}") from None
        return float(answer)


class DatabaseWindowLimiter:
    """The same limit over the ``rate_limit_hits`` table, for deployments without Redis."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        name: str,
        limit: int,
        window: float,
        *,
        clock: Clock = time.time,
    ) -> None:
        self.limit, self.window, self._name = limit, float(window), name
        self._sessions, self._clock = sessions, clock
        self._hits = 0

    def hit(self, key: str) -> float:
        if self.limit <= 0:
            return 0.0
        bucket = f"{self._name}{key}"[:200]
        try:
            wait = self._hit(bucket, self._clock())
        except OperationalError as exc:
            raise SharedStoreUnavailable(
                f"the rate limit store (database) did not answer: {exc.orig}"
            ) from None
        self._hits += 1
        if self._hits % SWEEP_EVERY == 0:
            self._sweep()
        return wait

    def _hit(self, bucket: str, now: float) -> float:
        table = HITS
        with self._sessions.begin() as session:
            lock_key(session, bucket)
            session.execute(delete(table).where(table.c.bucket == bucket, table.c.at <= now - self.window))
            # Insert first: on SQLite the write takes the database lock, so the count below is this
            # transaction's alone; on PostgreSQL the advisory lock already made it so.
            session.execute(insert(table).values(bucket=bucket, at=now))
            count, oldest = session.execute(
                select(func.count(), func.min(table.c.at)).where(table.c.bucket == bucket)
            ).one()
            if count <= self.limit:
                return 0.0
            session.rollback()
            return max(float(oldest) + self.window - now, 0.001)

    def _sweep(self) -> None:
        """Expired hits of keys nobody hits again (a signup from an address seen once)."""
        table = HITS
        with self._sessions.begin() as session:
            cutoff = self._clock() - self.window
            session.execute(delete(table).where(table.c.bucket.startswith(self._name), table.c.at <= cutoff))


def lock_key(session: Session, key: str) -> None:
    """Serialise writers of one key for the rest of the transaction (PostgreSQL; SQLite has one writer)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})


# -- token buckets ------------------------------------------------------------------------------------

BUCKET_SCRIPT = """
local now = tonumber(ARGV[1])
if now < 0 then local t = redis.call('TIME'); now = tonumber(t[1]) + tonumber(t[2]) / 1000000 end
local rate, burst, want = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens, stamp = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens, stamp = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local granted = math.max(0, math.min(want, math.floor(tokens)))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], 3600000)
if granted >= want then return {granted, '0'} end
return {granted, tostring((want - granted - tokens) / rate)}
"""


class SharedTokenBucket:
    """``rate`` tokens a second for every process drawing on ``name`` together; ``rate <= 0``: no limit.

    Each call asks for up to ``want`` tokens and gets what the bucket holds now (a whole number) and how
    long to wait before the rest would be there. ``burst`` is one second's worth, as in the in-process
    ``TokenBucket``: a worker busy writing its ledger rows for a moment does not lose the tokens it
    would have used, and no second ever sees more than twice the rate.
    """

    def __init__(
        self,
        name: str,
        rate: float,
        *,
        sessions: sessionmaker[Session] | None = None,
        client: redis.Redis | None = None,
        burst: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        if (sessions is None) == (client is None):
            raise ValueError("a shared bucket lives in the database or in Redis: give one of them")
        self.name, self.rate = name, rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._sessions, self._client, self._clock = sessions, client, clock
        self._script = client.register_script(BUCKET_SCRIPT) if client is not None else None

    def take(self, want: int) -> tuple[int, float]:
        """(tokens granted now, seconds until the rest could be granted)."""
        if self.rate <= 0 or want <= 0:
            return want, 0.0
        if self._script is not None:
            return self._take_redis(want)
        return self._take_database(want)

    def _take_redis(self, want: int) -> tuple[int, float]:
        import redis

        assert self._script is not None
        now = self._clock() if self._clock is not None else -1.0
        try:
            granted, wait = self._script(keys=[self.name], args=[now, self.rate, self.burst, want])
        except redis.RedisError as exc:
            raise SharedStoreUnavailable(f"the send rate store (Redis) did not answer: {exc}") from None
        return int(granted), float(wait)

    def _take_database(self, want: int) -> tuple[int, float]:
        assert self._sessions is not None
        table = BUCKETS
        now = (self._clock or time.time)()
        with self._sessions.begin() as session:
            if session.get_bind().dialect.name == "sqlite":  # take the write lock before reading
                session.execute(update(table).where(table.c.name == self.name).values(stamp=table.c.stamp))
            row = session.execute(
                select(table.c.tokens, table.c.stamp).where(table.c.name == self.name).with_for_update()
            ).first()
            if row is None:
                tokens = self.burst
                try:
                    with session.begin_nested():
                        session.execute(insert(table).values(name=self.name, tokens=tokens, stamp=now))
                except IntegrityError:  # another process made it first: draw from theirs next time
                    return 0, 0.01
            else:
                tokens = min(self.burst, row.tokens + max(0.0, now - row.stamp) * self.rate)
            granted = max(0, min(want, int(tokens)))
            tokens -= granted
            session.execute(update(table).where(table.c.name == self.name).values(tokens=tokens, stamp=now))
        wait = 0.0 if granted >= want else (want - granted - tokens) / self.rate
        return granted, wait

    def reset(self) -> None:
        """Forget the saved-up tokens (a new send starts from a full burst, not from last week's debt)."""
        if self._client is not None:
            self._client.delete(self.name)
            return
        assert self._sessions is not None
        with self._sessions.begin() as session:
            session.execute(delete(BUCKETS).where(BUCKETS.c.name == self.name))


class SharedRate:
    """The send loop's rate gate (``acquire()`` before each message) over a ``SharedTokenBucket``.

    Tokens are drawn in chunks (a fifth of a second's worth) and spent locally, so N workers cost the
    shared store about 5 × N round trips a second, not one per message, and together never
    spend more than the bucket grants. One thread per gate: each sending process has its own.
    """

    def __init__(self, bucket: SharedTokenBucket, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._bucket = bucket
        self._sleep = sleep
        self._chunk = max(1, int(bucket.rate / 5))
        self._spare = 0

    @property
    def unlimited(self) -> bool:
        return self._bucket.rate <= 0

    def acquire(self, tokens: float = 1.0) -> float:
        """Block until one message may go; returns the seconds waited."""
        if self.unlimited:
            return 0.0
        waited = 0.0
        while self._spare < tokens:
            granted, wait = self._bucket.take(self._chunk)
            self._spare += granted
            if self._spare < tokens:
                pause = max(wait, 0.001)
                self._sleep(pause)
                waited += pause
        self._spare -= int(tokens)
        return waited
