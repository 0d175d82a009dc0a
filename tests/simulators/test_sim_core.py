"""Tests for simulators.core: settings parsing, clock-driven job state, the job store, faults and stats."""

from __future__ import annotations

import threading

import pytest

from simulators.core import KIND_OPS, Faults, Job, JobStore, Settings, Stats, parse_seconds_range

T0 = 1_000.0


def _job(job_id: str = "j1", *, duration: float = 10.0, created_at: float = T0, **kwargs: object) -> Job:
    fields: dict[str, object] = {
        "id": job_id,
        "vendor": "openai",
        "model": "sora-2",
        "prompt": "p",
        "params": {},
        "created_at": created_at,
        "duration": duration,
        "result_ttl": 60.0,
    }
    fields.update(kwargs)
    return Job(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", (3.0, 3.0)), ("2-6", (2.0, 6.0)), (" 0.5 - 1.5 ", (0.5, 1.5)), (4, (4.0, 4.0)), ([1, 2], (1.0, 2.0))],
)
def test_parse_seconds_range_accepts_numbers_and_ranges(value: object, expected: tuple[float, float]) -> None:
    assert parse_seconds_range(value) == expected


@pytest.mark.parametrize("value", ["6-2", "-1", "abc", "", True, None, [1, 2, 3], "nan", "inf"])
def test_parse_seconds_range_refuses_nonsense(value: object) -> None:
    with pytest.raises(ValueError):
        parse_seconds_range(value)


def test_settings_from_env_and_defaults() -> None:
    assert Settings.from_env({}) == Settings(job_seconds=(3.0, 3.0), result_ttl=3600.0, pad_bytes=0)
    settings = Settings.from_env(
        {"VIDGATE_SIM_JOB_SECONDS": "2-6", "VIDGATE_SIM_RESULT_TTL": "90", "VIDGATE_SIM_PAD_BYTES": "1024"}
    )
    assert settings == Settings(job_seconds=(2.0, 6.0), result_ttl=90.0, pad_bytes=1024)
    assert all(2.0 <= settings.draw_duration() <= 6.0 for _ in range(50))


def test_settings_update_is_all_or_nothing() -> None:
    settings = Settings()
    with pytest.raises(ValueError):
        settings.update({"job_seconds": "1-2", "pad_bytes": -5})
    assert settings == Settings()
    with pytest.raises(ValueError, match="unknown settings"):
        settings.update({"colour": "red"})
    settings.update({"job_seconds": [1, 2], "result_ttl": 5, "pad_bytes": 7, "url_ttl": 9})
    assert settings.as_dict() == {"job_seconds": [1.0, 2.0], "result_ttl": 5.0, "pad_bytes": 7, "url_ttl": 9.0}


def test_job_is_queued_then_runs_with_rising_progress_then_succeeds() -> None:
    job = _job(duration=10.0)
    assert (job.phase(T0), job.progress(T0)) == ("queued", 0)
    assert job.phase(T0 + 0.99) == "queued"
    assert (job.phase(T0 + 1.0), job.progress(T0 + 1.0)) == ("running", 0)
    assert (job.phase(T0 + 5.5), job.progress(T0 + 5.5)) == ("running", 50)
    progresses = [job.progress(T0 + 1 + i * 0.5) for i in range(18)]
    assert progresses == sorted(progresses) and max(progresses) <= 99
    assert (job.phase(T0 + 10), job.progress(T0 + 10)) == ("succeeded", 100)
    assert job.ended_at == T0 + 10 and job.expires_at == T0 + 70


def test_job_with_an_injected_failure_ends_failed() -> None:
    job = _job(outcome="moderation")
    assert job.phase(T0 + 5) == "running"
    assert (job.phase(T0 + 10), job.progress(T0 + 10)) == ("failed", 100)


def test_zero_duration_job_is_done_at_once() -> None:
    assert _job(duration=0.0).phase(T0) == "succeeded"


def test_job_expiry_follows_ttl_or_a_forced_expiry() -> None:
    store = JobStore()
    job, _ = store.add(_job())
    assert not job.is_expired(T0 + 69) and job.is_expired(T0 + 70)
    store.expire(job, T0 + 20)
    assert job.is_expired(T0 + 20) and job.expires_at == T0 + 20


def test_store_dedupes_by_idempotency_key_per_vendor() -> None:
    store = JobStore()
    first, created = store.add(_job("a", idempotency_key="k"))
    again, created_again = store.add(_job("b", idempotency_key="k"))
    other_vendor, created_other = store.add(_job("c", idempotency_key="k", vendor="kling"))
    assert created and not created_again and created_other
    assert again is first and other_vendor.id == "c"
    assert [job.id for job in store.list("openai")] == ["a"]
    assert store.get("openai", "b") is None
    assert store.get("openai", "c") is None  # ids never leak across vendors
    assert store.get("kling", "c") is other_vendor


def test_in_flight_counts_unfinished_uncancelled_jobs() -> None:
    store = JobStore()
    store.add(_job("a", created_at=T0, duration=10))
    b, _ = store.add(_job("b", created_at=T0 + 2, duration=10))
    store.add(_job("c", created_at=T0 + 4, duration=0))
    assert store.in_flight("openai", T0 + 5) == 2
    store.cancel(b, T0 + 6)
    assert b.cancelled and b.phase(T0 + 6) == "cancelled"
    assert store.in_flight("openai", T0 + 6) == 1
    assert store.in_flight("openai", T0 + 10) == 0
    assert store.in_flight("kling", T0 + 5) == 0


def test_store_is_thread_safe_under_concurrent_adds() -> None:
    store = JobStore()

    def add_many(worker: int) -> None:
        for i in range(200):
            store.add(_job(f"{worker}-{i}", idempotency_key=f"key-{i}" if worker % 2 else None))

    threads = [threading.Thread(target=add_many, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 4 workers without keys add 800 jobs; the 4 with keys share 200 keys.
    assert len(store.list("openai")) == 800 + 200


def test_faults_are_consumed_in_order_and_by_count() -> None:
    faults = Faults()
    faults.add("openai", "poll", "rate_limit", count=2, retry_after=3)
    faults.add("openai", "poll", "server_error")
    taken = [faults.take("openai", "poll") for _ in range(4)]
    assert [fault.kind if fault else None for fault in taken] == ["rate_limit", "rate_limit", "server_error", None]
    assert taken[0] is not None and taken[0].opts == {"retry_after": 3} and taken[0].count == 1


def test_faults_match_vendor_op_and_only_where_the_kind_can_act() -> None:
    faults = Faults()
    faults.add("openai", "any", "fail_job")
    faults.add("openai", "create", "unavailable")
    assert faults.take("kling", "create") is None
    assert faults.take("openai", "poll") is None  # fail_job cannot act on a poll, so it waits
    first, second = faults.take("openai", "create"), faults.take("openai", "create")
    assert first is not None and first.kind == "fail_job"
    assert second is not None and second.kind == "unavailable"
    assert faults.pending() == []


def test_every_kind_has_an_op_and_content_kinds_are_content_only() -> None:
    assert all(KIND_OPS[kind] for kind in KIND_OPS)
    assert KIND_OPS["stall"] == KIND_OPS["truncate"] == KIND_OPS["expired"] == {"content"}


@pytest.mark.parametrize(
    ("op", "kind", "count", "opts"),
    [
        ("poll", "bogus", 1, {}),
        ("poll", "stall", 1, {}),
        ("content", "fail_job", 1, {}),
        ("nope", "rate_limit", 1, {}),
        ("create", "rate_limit", 0, {}),
        ("create", "rate_limit", 1, {"retry_after": -1}),
        ("create", "rate_limit", 1, {"colour": "red"}),
        ("create", "malformed", 1, {"json": "yes"}),
        ("create", "moderation", 1, {"message": 5}),
    ],
)
def test_bad_faults_are_refused(op: str, kind: str, count: int, opts: dict[str, object]) -> None:
    faults = Faults()
    with pytest.raises(ValueError):
        faults.add("openai", op, kind, count, **opts)
    assert faults.pending() == []


def test_faults_clear_reports_how_many_were_armed() -> None:
    faults = Faults()
    faults.add("openai", "any", "reset", count=3)
    faults.add("openai", "content", "truncate")
    assert faults.pending() == [
        {"vendor": "openai", "op": "any", "kind": "reset", "count": 3},
        {"vendor": "openai", "op": "content", "kind": "truncate", "count": 1},
    ]
    assert faults.clear() == 2 and faults.pending() == []


def test_stats_snapshot_combines_counters_and_job_state() -> None:
    stats, store = Stats(), JobStore()
    job, _ = store.add(_job("a"))
    stats.incr("openai", "create_requests")
    stats.submitted("openai", in_flight=3)
    stats.submitted("openai", in_flight=2)
    stats.incr("openai", "duplicate_creates")
    stats.poll("openai", "a")
    stats.poll("openai", "a")
    stats.incr("openai", "content_downloads")
    store.record_served(job, "abc")
    snapshot = stats.snapshot(store, T0 + 5, vendors=["openai", "kling"])
    assert snapshot["openai"] == {
        "create_requests": 1,
        "submissions": 2,
        "duplicate_creates": 1,
        "content_downloads": 1,
        "list_requests": 0,
        "listed": 0,
        "polls": {"a": 2},
        "polls_total": 2,
        "max_in_flight": 3,
        "in_flight": 1,
        "served_sha256": {"a": ["abc"]},
    }
    assert snapshot["kling"]["submissions"] == 0 and snapshot["kling"]["polls"] == {}
    stats.clear()
    assert stats.snapshot(store, T0 + 5, vendors=["openai"])["openai"]["submissions"] == 0
