"""Fault injection on the real stack: nothing accepted is lost, submitted twice upstream, or corrupted.

Each scenario drives BATCH tasks while its fault happens, then checks every task (see drive.verify) and
adds a row to docs/reliability.md. Timeouts, leases and the resend window are shortened so recovery
fits in a CI run; the mechanisms are the production ones.
"""
from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from harness.stack import Stack, StackConfig, running_stack
from tests.faults.drive import BATCH, Outcome, submit_batch, verify, wait_terminal

pytestmark = [pytest.mark.slow, pytest.mark.services]

FAST_RECOVERY = {
    "VIDGATE_VENDOR_READ_TIMEOUT": "5",
    "VIDGATE_DOWNLOAD_READ_TIMEOUT": "5",
    "VIDGATE_LEASE_SECONDS": "20",
    "VIDGATE_RESEND_AFTER_SECONDS": "15",
    "VIDGATE_DISPATCH_SECONDS": "1",
}
# Twice FAST_RECOVERY's lease and well past its resend window, so both have lapsed when beat returns; longer
# proves nothing more and costs the CI run the difference.
BEAT_DOWN_SECONDS = float(os.environ.get("VIDGATE_FAULT_BEAT_DOWN", "40"))
RUN_TIMEOUT = 300.0


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Start a stack (closed at the end of the test) with the fast-recovery settings plus overrides."""
    numbers = itertools.count()
    with ExitStack() as exits:

        def start(env: dict[str, str] | None = None, **config: Any) -> Stack:
            workdir = tmp_path / f"stack-{next(numbers)}"
            return exits.enter_context(running_stack(StackConfig(workdir, env={**FAST_RECOVERY, **(env or {})},
                                                                 **config)))

        yield start


def assert_clean(outcome: Outcome, report: list[Outcome], allowed_failures: dict[str, int] | None = None) -> None:
    report.append(outcome)
    assert outcome.lost == 0, outcome
    assert outcome.duplicated == 0, outcome
    assert outcome.corrupted == 0, outcome
    assert "MISSING CODE" not in outcome.failures, outcome
    for code, count in outcome.failures.items():
        assert count <= (allowed_failures or {}).get(code, 0), outcome


def test_workers_killed_again_and_again(make_stack: Callable[..., Stack], report: list[Outcome]) -> None:
    stack = make_stack(workers={"a": "openai", "b": "openai"})
    # Slow creates and downloads down (still inside the timeouts) so kills land inside them, not between.
    stack.sim("POST", "faults", json={"vendor": "openai", "op": "create", "kind": "accept_then_timeout",
                                      "count": 40, "seconds": 2})
    stack.sim("POST", "faults", json={"vendor": "openai", "op": "content", "kind": "stall", "count": 40,
                                      "seconds": 2, "after_bytes": 1000})
    ids = submit_batch(stack)
    kills, last_kill, stop = 0, time.monotonic(), threading.Event()

    def killer() -> None:
        nonlocal kills, last_kill
        for name in itertools.cycle(("a", "b")):
            if stop.wait(2.5):
                return
            stack.kill(f"worker_{name}")
            last_kill = time.monotonic()
            stack.start_worker(name)
            kills += 1

    thread = threading.Thread(target=killer)
    thread.start()
    finished = wait_terminal(stack, ids, RUN_TIMEOUT)
    stop.set()
    thread.join()
    assert_clean(verify(stack, "worker SIGKILL mid-submit/poll/download", ids, last_kill, finished,
                        f"{kills} kills, one every 2.5 s until every task ended"), report)


def test_beat_stopped_then_restarted(make_stack: Callable[..., Stack], report: list[Outcome]) -> None:
    stack = make_stack()
    stack.stop("beat")
    ids = submit_batch(stack)
    time.sleep(BEAT_DOWN_SECONDS)
    done_while_down = stack.query("SELECT count(*) FROM tasks WHERE state = 'completed'")[0][0]
    stack.start_beat()
    restarted = time.monotonic()
    finished = wait_terminal(stack, ids, RUN_TIMEOUT)
    assert_clean(verify(stack, "beat stopped, then restarted", ids, restarted, finished,
                        f"beat down {BEAT_DOWN_SECONDS:.0f} s; {done_while_down} completed meanwhile"), report)


def test_redis_restarted_with_every_message_lost(make_stack: Callable[..., Stack], report: list[Outcome]) -> None:
    stack = make_stack()
    ids = submit_batch(stack)
    time.sleep(2)
    stack.redis.stop()
    time.sleep(3)
    stack.redis.start()  # empty: every queued and unacknowledged message is gone
    restarted = time.monotonic()
    finished = wait_terminal(stack, ids, RUN_TIMEOUT)
    assert_clean(verify(stack, "Redis restarted, data lost", ids, restarted, finished,
                        "down 3 s mid-run; lost steps re-sent by the dispatcher"), report)


def test_postgres_restarted(make_stack: Callable[..., Stack], report: list[Outcome]) -> None:
    stack = make_stack()
    ids = submit_batch(stack)
    time.sleep(2)
    stack.postgres.stop()
    time.sleep(1)
    refused = stack.api("POST", "/v1/videos", json={"model": "sora-2", "prompt": "while down"})
    ready = stack.api("GET", "/readyz")
    time.sleep(5)
    stack.postgres.start()
    restarted = time.monotonic()
    finished = wait_terminal(stack, ids, RUN_TIMEOUT)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "database_unavailable"
    assert ready.status_code == 503 and "database" in ready.json()["down"]
    assert stack.api("GET", "/v1/videos").status_code == 200  # the web recovered by itself
    assert_clean(verify(stack, "PostgreSQL restarted", ids, restarted, finished,
                        "down 6 s; the web answered 503 database_unavailable meanwhile"), report)


def test_every_message_delivered_twice(make_stack: Callable[..., Stack], report: list[Outcome]) -> None:
    stack = make_stack(celery_app="tests.faults.duplicating_app", wsgi="tests.faults.duplicating_wsgi:app")
    ids = submit_batch(stack)
    started = time.monotonic()
    finished = wait_terminal(stack, ids, RUN_TIMEOUT)
    stats = stack.sim("GET", "stats")["openai"]
    assert_clean(verify(stack, "every Celery message delivered twice", ids, started, finished,
                        f"{stats['create_requests']} create requests for {len(ids)} tasks"), report)
    assert stats["create_requests"] == len(ids)  # the duplicate of a submit finds the task already taken


VENDOR_FAULTS = [
    ("create", "rate_limit", 20, {"retry_after": 1}),
    ("any", "server_error", 10, {}),
    ("any", "unavailable", 10, {}),
    ("any", "reset", 10, {}),
    ("create", "accept_then_timeout", 5, {"seconds": 7}),
    ("poll", "malformed", 10, {"json": True}),
    ("content", "stall", 5, {"seconds": 8, "after_bytes": 1000}),
    ("content", "truncate", 5, {}),
    ("content", "expired", 3, {}),
    ("create", "moderation", 5, {}),
]


def test_vendor_faults(make_stack: Callable[..., Stack], report: list[Outcome]) -> None:
    stack = make_stack()
    for op, kind, count, options in VENDOR_FAULTS:
        stack.sim("POST", "faults", json={"vendor": "openai", "op": op, "kind": kind, "count": count, **options})
    ids = submit_batch(stack)
    started = time.monotonic()
    finished = wait_terminal(stack, ids, RUN_TIMEOUT)
    stats = stack.sim("GET", "stats")["openai"]
    armed = ", ".join(f"{count}x {kind}" for _, kind, count, _ in VENDOR_FAULTS)
    outcome = verify(stack, "vendor faults (429, 5xx, reset, timeouts, malformed, stall, cut, expired, moderation)",
                     ids, started, finished,
                     f"{armed}; {stats['duplicate_creates']} ambiguous submissions resolved by Idempotency-Key")
    # Moderated jobs fail with content_policy; a result that expired upstream (OpenAI keeps no second copy)
    # fails with upstream_error. Nothing else may fail.
    assert_clean(outcome, report, allowed_failures={"content_policy": 5, "upstream_error": 3})
    assert stack.sim("GET", "faults")["faults"] == []  # every armed fault was met


def test_channel_cap_is_never_exceeded(make_stack: Callable[..., Stack], tmp_path: Path,
                                       report: list[Outcome]) -> None:
    channels = tmp_path / "capped.toml"
    channels.write_text('[[channels]]\nname = "capped"\nvendor = "openai"\n'
                        'base_url = "${VIDGATE_SIMULATOR_URL}/openai/v1"\napi_key = "sk-sim-openai"\n'
                        'max_concurrency = 20\nmodels = { "sora-2" = "sora-2" }\n')
    stack = make_stack(env={"VIDGATE_CHANNELS": str(channels)}, sim_job_seconds="0.5-1.5")
    ids = submit_batch(stack)
    started = time.monotonic()
    finished = wait_terminal(stack, ids, RUN_TIMEOUT)
    peak = stack.sim("GET", "stats")["openai"]["max_in_flight"]
    assert_clean(verify(stack, "channel capped at 20 concurrent jobs", ids, started, finished,
                        f"{BATCH} submitted at once; at most {peak} in flight at the vendor"), report)
    assert peak <= 20
