"""Tests for the /_sim control API: faults, stats, config, reset and health."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from simulators.app import VENDORS

if TYPE_CHECKING:
    from .conftest import SimEnv

VIDEOS = "/openai/v1/videos"


def test_healthz_lists_the_mounted_vendors(env: SimEnv) -> None:
    assert env.anonymous.get("/_sim/healthz").get_json() == {"ok": True, "vendors": sorted(VENDORS)}
    assert "openai" in VENDORS


def test_faults_can_be_armed_listed_and_cleared(env: SimEnv) -> None:
    armed = env.client.post(
        "/_sim/faults", json={"vendor": "openai", "op": "poll", "kind": "rate_limit", "count": 2, "retry_after": 4}
    )
    assert armed.status_code == 201
    assert armed.get_json() == {"vendor": "openai", "op": "poll", "kind": "rate_limit", "count": 2, "retry_after": 4}
    env.client.post("/_sim/faults", json={"vendor": "openai", "kind": "truncate"})  # op defaults to "any"
    listed = env.client.get("/_sim/faults").get_json()["faults"]
    assert [(fault["kind"], fault["op"], fault["count"]) for fault in listed] == [
        ("rate_limit", "poll", 2),
        ("truncate", "any", 1),
    ]
    assert env.client.get(VIDEOS).status_code == 429
    assert env.client.get("/_sim/faults").get_json()["faults"][0]["count"] == 1
    assert env.client.delete("/_sim/faults").get_json() == {"cleared": 2}
    assert env.client.get(VIDEOS).status_code == 200


@pytest.mark.parametrize(
    "spec",
    [
        {"vendor": "sora", "kind": "reset"},
        {"kind": "reset"},
        {"vendor": ["openai"], "kind": "reset"},
        {"vendor": "openai"},
        {"vendor": "openai", "kind": ["reset"]},
        {"vendor": "openai", "kind": "stall", "op": "create"},
        {"vendor": "openai", "kind": "reset", "count": "many"},
        {"vendor": "openai", "kind": "reset", "colour": "red"},
        "not an object",
    ],
)
def test_bad_fault_specs_are_400_and_arm_nothing(env: SimEnv, spec: Any) -> None:
    response = env.client.post("/_sim/faults", json=spec)
    assert response.status_code == 400 and response.get_json()["error"]
    assert env.client.get("/_sim/faults").get_json() == {"faults": []}


def test_config_changes_new_jobs(env: SimEnv) -> None:
    assert env.client.get("/_sim/config").get_json() == {
        "job_seconds": [10.0, 10.0],
        "result_ttl": 3600.0,
        "pad_bytes": 0,
        "url_ttl": 3600.0,
    }
    changed = env.client.post("/_sim/config", json={"job_seconds": "2", "result_ttl": 30, "pad_bytes": 64})
    assert changed.get_json() == {"job_seconds": [2.0, 2.0], "result_ttl": 30.0, "pad_bytes": 64, "url_ttl": 3600.0}
    video = env.client.post(VIDEOS, data={"prompt": "x"}).get_json()
    env.clock.advance(2)
    done = env.client.get(f"{VIDEOS}/{video['id']}").get_json()
    assert done["status"] == "completed" and done["expires_at"] == done["completed_at"] + 30


@pytest.mark.parametrize("changes", [{"job_seconds": "5-1"}, {"result_ttl": -1}, {"pad_bytes": 1.5}, {"ttl": 3}, [1]])
def test_bad_config_is_400_and_changes_nothing(env: SimEnv, changes: Any) -> None:
    before = env.client.get("/_sim/config").get_json()
    response = env.client.post("/_sim/config", json=changes)
    assert response.status_code == 400 and response.get_json()["error"]
    assert env.client.get("/_sim/config").get_json() == before


def test_stats_have_a_stable_shape_even_when_idle(env: SimEnv) -> None:
    stats = env.client.get("/_sim/stats").get_json()
    assert set(stats) == set(VENDORS)  # every vendor listed, even idle
    assert stats == {
        vendor: {
            "create_requests": 0,
            "submissions": 0,
            "duplicate_creates": 0,
            "content_downloads": 0,
            "list_requests": 0,
            "listed": 0,
            "polls": {},
            "polls_total": 0,
            "max_in_flight": 0,
            "in_flight": 0,
            "served_sha256": {},
        }
        for vendor in VENDORS
    }


def test_reset_clears_jobs_faults_and_stats_but_keeps_settings(env: SimEnv) -> None:
    env.client.post("/_sim/config", json={"pad_bytes": 10})
    video_id = env.client.post(VIDEOS, data={"prompt": "x"}).get_json()["id"]
    env.client.get(f"{VIDEOS}/{video_id}")
    env.client.post("/_sim/faults", json={"vendor": "openai", "kind": "reset"})
    assert env.client.post("/_sim/reset").get_json() == {"reset": True}
    assert env.client.get("/_sim/faults").get_json() == {"faults": []}
    stats = env.client.get("/_sim/stats").get_json()["openai"]
    assert stats["submissions"] == 0 and stats["polls"] == {} and stats["max_in_flight"] == 0
    assert env.client.get(f"{VIDEOS}/{video_id}").status_code == 404
    assert env.client.get("/_sim/config").get_json()["pad_bytes"] == 10


def test_jobs_lists_every_job_with_its_key(env: SimEnv) -> None:
    env.client.post(VIDEOS, data={"prompt": "first"}, headers={"Idempotency-Key": "k-1"})
    env.client.post(VIDEOS, data={"prompt": "second"})
    jobs = env.client.get("/_sim/jobs").get_json()["jobs"]
    assert [(j["prompt"], j["idempotency_key"], j["vendor"]) for j in jobs] == [
        ("first", "k-1", "openai"), ("second", None, "openai")]
    assert all(j["phase"] == "queued" and j["served_sha256"] == [] for j in jobs)
