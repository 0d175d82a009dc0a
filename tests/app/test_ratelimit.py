"""Per-token rate limits: 429 with Retry-After, one budget per token shared by every web process."""
from __future__ import annotations

from pathlib import Path

import fakeredis
import pytest
import redis

from app.ratelimit import MemoryRateLimiter, RedisRateLimiter, fail_fast_client
from tests.conftest import Sim, make_settings, new_token, prepared_app


def test_redis_limiter_counts_per_key_and_says_how_long_to_wait() -> None:
    limiter = RedisRateLimiter(fakeredis.FakeRedis(), limit=3)
    assert [limiter.hit("a") for _ in range(3)] == [None, None, None]
    wait = limiter.hit("a")
    assert wait is not None and 1 <= wait <= 60
    assert limiter.hit("b") is None  # another token has its own budget


def test_a_process_reserves_a_share_of_the_budget_per_round_trip() -> None:
    server = fakeredis.FakeRedis()
    limiter = RedisRateLimiter(server, limit=1000)  # shares of 10
    assert [limiter.hit("a") for _ in range(10)] == [None] * 10
    assert [int(server.get(key)) for key in server.keys("vidgate:ratelimit:a:*")] == [10]  # one INCRBY so far
    assert limiter.hit("a") is None
    assert [int(server.get(key)) for key in server.keys("vidgate:ratelimit:a:*")] == [20]


def test_processes_taking_shares_never_exceed_the_budget_together() -> None:
    server = fakeredis.FakeRedis()
    processes = [RedisRateLimiter(server, limit=350) for _ in range(2)]  # shares of 3; 350 is not a multiple
    allowed = sum(processes[i % 2].hit("a") is None for i in range(500))
    # Exact but for what a process reserved and had not used when the other found the budget spent.
    assert 350 - 2 * 2 <= allowed <= 350
    assert all(limiter.hit("a") is not None for limiter in processes)


def test_a_limiter_that_is_down_lets_requests_through(caplog: pytest.LogCaptureFixture) -> None:
    broken = RedisRateLimiter(fail_fast_client("redis://127.0.0.1:1/0"), limit=1)
    assert broken.hit("a") is None and broken.hit("a") is None
    warnings = [record for record in caplog.records if record.name == "vidgate.ratelimit"]
    assert len(warnings) == 2 and "127.0.0.1:1" in warnings[0].getMessage()  # said on every request...
    assert all(record.exc_info is None for record in warnings)  # ...so in one line, without a traceback


def test_memory_limiter_is_the_same_window() -> None:
    limiter = MemoryRateLimiter(limit=2)
    assert [limiter.hit("a") is None for _ in range(3)] == [True, True, False]


@pytest.mark.services
def test_processes_share_one_budget_through_redis(redis_url: str) -> None:
    first = RedisRateLimiter(redis.Redis.from_url(redis_url), limit=4)
    second = RedisRateLimiter(redis.Redis.from_url(redis_url), limit=4)  # another web process
    results = [limiter.hit("token-1") for limiter in (first, second, first, second, first)]
    assert results[:4] == [None] * 4 and results[4] is not None


def test_the_api_answers_429_with_retry_after(tmp_path: Path, sim: Sim) -> None:
    app = prepared_app(make_settings(tmp_path / "i", sim.url, VIDGATE_RATE_LIMIT_PER_MINUTE="2"))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {new_token()}"}
    statuses = [client.get("/v1/videos", headers=headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = client.get("/v1/videos", headers=headers)
    assert limited.json["error"]["code"] == "rate_limit_exceeded" and int(limited.headers["Retry-After"]) >= 1
    other = {"Authorization": f"Bearer {new_token('other')}"}
    assert client.get("/v1/videos", headers=other).status_code == 200
