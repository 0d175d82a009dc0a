"""The bounded, expiring in-process cache behind the token and finished-task caches."""
from __future__ import annotations

from app.cache import ExpiringCache


def test_entries_expire_and_the_oldest_goes_when_full(clock: list[float]) -> None:
    cache: ExpiringCache[str, int] = ExpiringCache(max_entries=2)
    for number in range(3):
        cache.put(f"key{number}", number, 5)
    assert cache.get("key0") is None
    assert [cache.get(f"key{n}") for n in (1, 2)] == [1, 2]
    clock[0] += 5
    assert cache.get("key2") is None


def test_putting_again_renews_and_drop_and_clear_remove(clock: list[float]) -> None:
    cache: ExpiringCache[str, int] = ExpiringCache(max_entries=2)
    cache.put("a", 1, 5)
    cache.put("b", 2, 5)
    cache.put("a", 3, 5)  # now the newest: "b" goes first
    cache.put("c", 4, 5)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (3, None, 4)
    cache.drop("a")
    assert cache.get("a") is None and len(cache) == 1
    cache.clear()
    assert cache.get("c") is None and len(cache) == 0


def test_nothing_is_kept_for_zero_seconds_or_zero_entries() -> None:
    cache: ExpiringCache[str, int] = ExpiringCache(max_entries=2)
    cache.put("a", 1, 0)
    unbounded_off: ExpiringCache[str, int] = ExpiringCache(max_entries=0)
    unbounded_off.put("a", 1, 5)
    assert cache.get("a") is None and unbounded_off.get("a") is None
