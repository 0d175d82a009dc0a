"""Per-token request limits: a fixed window counted in Redis, so every web process shares one budget."""
from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger("vidgate.ratelimit")
WINDOW_SECONDS = 60
# A process reserves a token's requests in shares of a hundredth of its limit, up to MAX_SHARE.
SHARES_PER_WINDOW = 100
MAX_SHARE = 100


class RateLimiter(Protocol):
    def hit(self, key: str) -> float | None:
        """Count one request for `key`; the seconds to wait when it is over the limit, else None."""
        ...


class RedisRateLimiter:
    """A fixed window counted in Redis, atomic across processes and hosts, taken in shares.

    A process reserves `share` requests of a token's window at once (one INCRBY) and counts them down in memory,
    so only one request in `share` pays a Redis round trip. The share is a hundredth of the limit (at most
    MAX_SHARE; 1, i.e. exact, below 200 a minute): the budget stays exact across processes, except that requests
    a process reserved and did not use by the window's end are lost, at most one share per process and token.
    """

    def __init__(self, client: redis.Redis, limit: int, window: float = WINDOW_SECONDS) -> None:
        self.client, self.limit, self.window = client, limit, window
        self.share = max(1, min(MAX_SHARE, limit // SHARES_PER_WINDOW))
        self._slot = -1
        self._reserved: dict[str, int] = {}  # key -> requests reserved in this window and not yet used
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        now = time.time()
        slot = int(now // self.window)
        with self._lock:
            if slot != self._slot:  # a new window: what was reserved in the last one is gone
                self._slot, self._reserved = slot, {}
            left = self._reserved.get(key, 0)
            if left:
                self._reserved[key] = left - 1
                return None
        name = f"vidgate:ratelimit:{key}:{slot}"
        try:
            # Both commands in one round trip and without MULTI/EXEC, which would double the commands and replies
            # to parse: should a connection drop between the two, the next reservation of the window sets the expiry.
            with self.client.pipeline(transaction=False) as pipe:
                count, _ = pipe.incrby(name, self.share).expire(name, int(self.window) + 1).execute()
        except redis.RedisError as error:
            # A limiter that is down must not take the API down with it: let the request through. One line, no
            # traceback: while Redis is down this is said on every request.
            log.warning("rate limiter unavailable (%s); request allowed", error)
            return None
        granted = min(self.share, self.limit - (count - self.share))  # what was left of the budget, up to a share
        if granted <= 0:
            return _over(count, self.limit, (slot + 1) * self.window - now)
        with self._lock:
            if slot == self._slot:
                self._reserved[key] = self._reserved.get(key, 0) + granted - 1  # this request takes one
        return None


class MemoryRateLimiter:
    """The same window kept in this process: for the embedded default, where there is one web process."""

    def __init__(self, limit: int, window: float = WINDOW_SECONDS) -> None:
        self.limit, self.window = limit, window
        self._slot = -1
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        now = time.time()
        slot = int(now // self.window)
        with self._lock:
            if slot != self._slot:  # a new window: every budget starts again
                self._slot, self._counts = slot, {}
            count = self._counts[key] = self._counts.get(key, 0) + 1
        return _over(count, self.limit, (slot + 1) * self.window - now)


class NoLimit:
    def hit(self, key: str) -> float | None:
        return None


def _over(count: int, limit: int, until_next_window: float) -> float | None:
    return max(1.0, until_next_window) if count > limit else None


def fail_fast_client(url: str) -> redis.Redis:
    """A client that gives up at once when Redis is away: requests must not queue behind retries."""
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))


def make_limiter(redis_url: str | None, per_minute: int) -> RateLimiter:
    if per_minute <= 0:
        return NoLimit()
    if redis_url:
        return RedisRateLimiter(fail_fast_client(redis_url), per_minute)
    return MemoryRateLimiter(per_minute)
