"""A bounded in-process cache whose entries expire: what a web process keeps so it need not ask again."""
from __future__ import annotations

import threading
from collections.abc import Hashable
from time import monotonic
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ExpiringCache(Generic[K, V]):
    """Values by key, each trusted for a given number of seconds, at most `max_entries` of them.

    Reads take no lock (a dict lookup is atomic); writers lock so the size check and the insert go together.
    When full, the oldest entry goes: a bound on memory, not an LRU, since a miss only costs one query. The lock
    is reentrant and public, so a user can make its own check and a write one step.
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        self.lock = threading.RLock()

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= monotonic():
            return None
        return entry[1]

    def put(self, key: K, value: V, seconds: float) -> None:
        if seconds <= 0 or self.max_entries <= 0:
            return
        with self.lock:
            self._entries.pop(key, None)  # re-inserted at the end: the dict's order is the age order
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = (monotonic() + seconds, value)

    def drop(self, key: K) -> None:
        with self.lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self.lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
