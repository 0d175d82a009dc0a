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


class RateLimiter(Protocol):
    def hit(self, key: str) -> float | None:
        """Count one request for `key`; the seconds to wait when it is over the limit, else None."""
        ...


class RedisRateLimiter:
    """INCR on a key per window: atomic across processes and hosts, and one round trip per request."""

    def __init__(self, client: redis.Redis, limit: int, window: float = WINDOW_SECONDS) -> None:
        self.client, self.limit, self.window = client, limit, window

    def hit(self, key: str) -> float | None:
        now = time.time()
        slot = int(now // self.window)
        name = f"vidgate:ratelimit:{key}:{slot}"
        try:
            # Both commands in one round trip and without MULTI/EXEC, which would double the commands and replies
            # to parse: should a connection drop between the two, the next request of the window sets the expiry.
            with self.client.pipeline(transaction=False) as pipe:
                count, _ = pipe.incr(name).expire(name, int(self.window) + 1).execute()
        except redis.RedisError:
            # A limiter that is down must not take the API down with it: let the request through.
            log.warning("rate limiter unavailable; request allowed", exc_info=True)
            return None
        return _over(count, self.limit, (slot + 1) * self.window - now)


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
