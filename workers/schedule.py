"""When to try again: the poll schedule and retry backoff, in one place so they can be tuned and measured."""
from __future__ import annotations

import random

FIRST_POLL = 3.0          # most jobs are not done in the first seconds; do not ask at once
MIN_POLL, MAX_POLL = 2.0, 10.0
# A job asked about in a list call (many jobs, one request: see ListPollable) costs the vendor a small share of a
# call, so an old job without a progress figure is asked twice as often: its lag after finishing halves.
MAX_LISTED_POLL = 5.0
BACKOFF_BASE, BACKOFF_MAX = 2.0, 300.0
CAP_WAIT = 5.0            # a task a worker found no channel slot for is sent again after this (or later)


def poll_delay(elapsed: float, progress: int | None, longest: float = MAX_POLL) -> float:
    """Seconds until the next poll of a job that has run `elapsed` seconds and reports `progress`.

    With a progress figure, aim at the projected finish (but never sleep past `longest`, so a stuck
    estimate costs at most one interval of lag). Without one, poll in proportion to the age: a young
    job is checked often, an old one every `longest` seconds.
    """
    if progress and 0 < progress < 100 and elapsed > 0:
        remaining = elapsed * (100 - progress) / progress
        return min(longest, max(MIN_POLL, remaining))
    return min(longest, max(MIN_POLL, elapsed * 0.25))


def backoff(attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter (as Celery's own), never shorter than the vendor's Retry-After."""
    ceiling = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, attempt - 1))
    delay = (rng or random).uniform(ceiling / 2, ceiling)
    return max(delay, retry_after or 0.0)
