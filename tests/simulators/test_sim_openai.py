"""Protocol tests for the OpenAI Videos simulator through the Flask test client, on a fake clock."""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from simulators import media
from simulators.app import create_app, get_simulator

if TYPE_CHECKING:
    from .conftest import SimEnv

VIDEOS = "/openai/v1/videos"


def _create(env: SimEnv, **fields: str) -> dict[str, Any]:
    """Create through multipart, as the official SDK does."""
    response = env.client.post(VIDEOS, data={"prompt": "a red fox", **fields})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _error(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def test_missing_or_wrong_key_is_refused_with_the_openai_envelope(env: SimEnv) -> None:
    for response in (
        env.anonymous.get(VIDEOS),
        env.anonymous.get(VIDEOS, headers={"Authorization": "Bearer sk-wrong"}),
        env.anonymous.post(VIDEOS, data={"prompt": "x"}, headers={"Authorization": "Basic c2stc2ltLW9wZW5haQ=="}),
    ):
        error = _error(response, 401)
        assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"
        assert error["param"] is None
    assert env.sim.jobs.list("openai") == []


def test_api_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDGATE_SIM_OPENAI_KEY", "sk-custom")
    client = create_app().test_client()
    assert client.get(VIDEOS, headers={"Authorization": "Bearer sk-sim-openai"}).status_code == 401
    assert client.get(VIDEOS, headers={"Authorization": "Bearer sk-custom"}).status_code == 200


def test_create_returns_a_queued_video_object_with_defaults(env: SimEnv) -> None:
    video = _create(env)
    assert video["id"].startswith("video_") and len(video["id"]) > len("video_")
    assert video == {
        "id": video["id"],
        "object": "video",
        "model": "sora-2",
        "status": "queued",
        "progress": 0,
        "created_at": int(env.clock.now),
        "completed_at": None,
        "expires_at": None,
        "seconds": "4",
        "size": "720x1280",
        "prompt": "a red fox",
        "remixed_from_video_id": None,
        "error": None,
    }


def test_create_accepts_json_and_every_documented_value(env: SimEnv) -> None:
    response = env.client.post(
        VIDEOS,
        json={
            "prompt": "waves",
            "model": "sora-2-pro-2025-10-06",
            "seconds": "12",
            "size": "1792x1024",
            "input_reference": {"image_url": "https://example.com/ref.png"},
        },
    )
    video = response.get_json()
    assert (video["model"], video["seconds"], video["size"]) == ("sora-2-pro-2025-10-06", "12", "1792x1024")
    job = env.sim.jobs.get("openai", video["id"])
    assert job is not None and job.params["input_reference"] == {"image_url": "https://example.com/ref.png"}


def test_create_records_an_uploaded_reference_image(env: SimEnv) -> None:
    image = b"\x89PNG\r\n\x1a\nfake"
    response = env.client.post(
        VIDEOS,
        data={"prompt": "from image", "input_reference": (io.BytesIO(image), "ref.png", "image/png")},
        content_type="multipart/form-data",
    )
    job = env.sim.jobs.get("openai", response.get_json()["id"])
    assert job is not None
    assert job.params["input_reference"] == {
        "filename": "ref.png",
        "content_type": "image/png",
        "bytes": len(image),
        "sha256": hashlib.sha256(image).hexdigest(),
    }


def test_create_understands_the_sdks_flattened_reference_object(env: SimEnv) -> None:
    video = _create(env, **{"input_reference[file_id]": "file_123"})
    job = env.sim.jobs.get("openai", video["id"])
    assert job is not None and job.params["input_reference"] == {"file_id": "file_123"}


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({}, "prompt", "missing_required_parameter"),
        ({"prompt": ""}, "prompt", "missing_required_parameter"),
        ({"prompt": 5}, "prompt", "invalid_type"),
        ({"prompt": "x", "model": "sora-9"}, "model", "invalid_value"),
        ({"prompt": "x", "seconds": "5"}, "seconds", "invalid_value"),
        ({"prompt": "x", "seconds": 4}, "seconds", "invalid_type"),
        ({"prompt": "x", "size": "1920x1080"}, "size", "invalid_value"),
        ({"prompt": "x", "duration": 4}, "duration", "unknown_parameter"),
        ({"prompt": "x", "input_reference": "https://x/y.png"}, "input_reference", "invalid_value"),
        ({"prompt": "x", "input_reference": {"image_url": "u", "file_id": "f"}}, "input_reference", "invalid_value"),
    ],
)
def test_invalid_create_is_a_400_naming_the_param(env: SimEnv, body: dict[str, Any], param: str, code: str) -> None:
    error = _error(env.client.post(VIDEOS, json=body), 400)
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert env.sim.jobs.list("openai") == []
    assert env.sim.stats.snapshot(env.sim.jobs, env.clock(), ["openai"])["openai"]["create_requests"] == 0


def test_unparseable_bodies_are_400_not_500(env: SimEnv) -> None:
    for response in (
        env.client.post(VIDEOS, data="{not json", content_type="application/json"),
        env.client.post(VIDEOS, json=["a list"]),
        env.client.post(VIDEOS, data="prompt", content_type="text/plain"),
        env.client.post(VIDEOS, data={"prompt": "x", "input_reference": "u", "input_reference[image_url]": "u"}),
    ):
        assert _error(response, 400)["type"] == "invalid_request_error"


def test_idempotency_key_returns_the_same_video_and_counts_a_duplicate(env: SimEnv) -> None:
    headers = {"Idempotency-Key": "req-1"}
    first = env.client.post(VIDEOS, data={"prompt": "once"}, headers=headers).get_json()
    env.clock.advance(2)
    second = env.client.post(VIDEOS, data={"prompt": "once"}, headers=headers).get_json()
    third = env.client.post(VIDEOS, data={"prompt": "once"}, headers={"Idempotency-Key": "req-2"}).get_json()
    assert second["id"] == first["id"] and second["status"] == "in_progress"
    assert third["id"] != first["id"]
    stats = env.client.get("/_sim/stats").get_json()["openai"]
    assert (stats["create_requests"], stats["submissions"], stats["duplicate_creates"]) == (3, 2, 1)


def test_status_progresses_with_the_clock_and_carries_a_poll_hint(env: SimEnv) -> None:
    video_id = _create(env)["id"]
    seen = []
    for _ in range(12):
        response = env.client.get(f"{VIDEOS}/{video_id}")
        assert response.status_code == 200
        assert 100 <= int(response.headers["openai-poll-after-ms"]) <= 2000
        body = response.get_json()
        seen.append((body["status"], body["progress"]))
        env.clock.advance(env.job_seconds / 10)
    statuses = [status for status, _ in seen]
    assert statuses[0] == "queued" and "in_progress" in statuses and statuses[-1] == "completed"
    progresses = [progress for _, progress in seen]
    assert progresses == sorted(progresses) and progresses[-1] == 100
    done = env.client.get(f"{VIDEOS}/{video_id}").get_json()
    assert done["completed_at"] == int(env.sim.jobs.list("openai")[0].ended_at)
    assert done["expires_at"] == done["completed_at"] + 3600
    assert env.client.get("/_sim/stats").get_json()["openai"]["polls"] == {video_id: 13}


def test_unknown_video_is_404_everywhere(env: SimEnv) -> None:
    for response in (
        env.client.get(f"{VIDEOS}/video_missing"),
        env.client.delete(f"{VIDEOS}/video_missing"),
        env.client.get(f"{VIDEOS}/video_missing/content"),
        env.client.post(f"{VIDEOS}/video_missing/remix", json={"prompt": "x"}),
    ):
        assert _error(response, 404)["code"] == "video_not_found"


def test_unknown_paths_and_methods_get_a_json_404(env: SimEnv) -> None:
    assert _error(env.client.get("/openai/v1/images"), 404)["message"] == "Invalid URL (GET /v1/images)"
    assert _error(env.client.put(VIDEOS), 404)["message"] == "Invalid URL (PUT /v1/videos)"
    assert _error(env.anonymous.get("/openai/v1/images"), 401)["code"] == "invalid_api_key"


def test_content_streams_the_jobs_mp4_once_completed(env: SimEnv) -> None:
    video_id = _create(env)["id"]
    not_ready = _error(env.client.get(f"{VIDEOS}/{video_id}/content"), 404)
    assert not_ready["code"] == "video_not_ready" and "queued" in not_ready["message"]
    env.clock.advance(env.job_seconds)
    response = env.client.get(f"{VIDEOS}/{video_id}/content")
    expected_length, chunks = media.video_for(video_id)
    expected = b"".join(chunks)
    assert response.status_code == 200 and response.mimetype == "video/mp4"
    assert int(response.headers["Content-Length"]) == expected_length
    assert response.data == expected
    stats = env.client.get("/_sim/stats").get_json()["openai"]
    assert stats["content_downloads"] == 1
    assert stats["served_sha256"] == {video_id: [hashlib.sha256(expected).hexdigest()]}


def test_pad_bytes_setting_grows_served_videos(env: SimEnv) -> None:
    env.client.post("/_sim/config", json={"pad_bytes": 300_000})
    video_id = _create(env)["id"]
    env.clock.advance(env.job_seconds)
    response = env.client.get(f"{VIDEOS}/{video_id}/content")
    assert len(response.data) == int(response.headers["Content-Length"]) == media.video_for(video_id)[0] + 300_000
    assert hashlib.sha256(response.data).hexdigest() == media.video_sha256(video_id, 300_000)


def test_thumbnail_and_spritesheet_variants_are_jpegs(env: SimEnv) -> None:
    video_id = _create(env)["id"]
    env.clock.advance(env.job_seconds)
    for variant in ("thumbnail", "spritesheet"):
        response = env.client.get(f"{VIDEOS}/{video_id}/content?variant={variant}")
        assert response.status_code == 200 and response.mimetype == "image/jpeg"
        assert response.data == media.thumbnail_for(video_id)
    assert _error(env.client.get(f"{VIDEOS}/{video_id}/content?variant=gif"), 400)["param"] == "variant"
    # Only video downloads are counted, so "the gateway fetched the video once" stays checkable.
    assert env.client.get("/_sim/stats").get_json()["openai"]["content_downloads"] == 0


def test_content_expires_after_the_ttl(env: SimEnv) -> None:
    env.client.post("/_sim/config", json={"result_ttl": 60})
    video_id = _create(env)["id"]
    env.clock.advance(env.job_seconds + 59)
    assert env.client.get(f"{VIDEOS}/{video_id}/content").status_code == 200
    env.clock.advance(1)
    assert _error(env.client.get(f"{VIDEOS}/{video_id}/content"), 404)["code"] == "video_expired"
    # Status reads keep working and still say when the assets expired.
    video = env.client.get(f"{VIDEOS}/{video_id}").get_json()
    assert video["status"] == "completed" and video["expires_at"] <= env.clock.now


def test_delete_cancels_and_then_the_id_is_gone(env: SimEnv) -> None:
    video_id = _create(env)["id"]
    env.clock.advance(2)
    assert env.client.get("/_sim/stats").get_json()["openai"]["in_flight"] == 1
    response = env.client.delete(f"{VIDEOS}/{video_id}")
    assert response.get_json() == {"id": video_id, "object": "video.deleted", "deleted": True}
    job = env.sim.jobs.get("openai", video_id)
    assert job is not None and job.cancelled
    assert env.client.get("/_sim/stats").get_json()["openai"]["in_flight"] == 0
    assert env.client.get(f"{VIDEOS}/{video_id}").status_code == 404
    assert env.client.delete(f"{VIDEOS}/{video_id}").status_code == 404
    env.clock.advance(env.job_seconds)
    assert env.client.get(f"{VIDEOS}/{video_id}/content").status_code == 404
    assert env.client.get(VIDEOS).get_json()["data"] == []


def test_list_pages_newest_first_with_keyset_cursors(env: SimEnv) -> None:
    ids = []
    for i in range(5):
        ids.append(_create(env, prompt=f"clip {i}")["id"])
        env.clock.advance(1)
    env.client.delete(f"{VIDEOS}/{ids[2]}")
    page = env.client.get(f"{VIDEOS}?limit=2").get_json()
    assert page["object"] == "list"
    assert [video["id"] for video in page["data"]] == [ids[4], ids[3]]
    assert (page["first_id"], page["last_id"], page["has_more"]) == (ids[4], ids[3], True)
    page = env.client.get(f"{VIDEOS}?limit=2&after={ids[3]}").get_json()
    assert [video["id"] for video in page["data"]] == [ids[1], ids[0]] and page["has_more"] is False
    # A cursor at a deleted video still pages on.
    page = env.client.get(f"{VIDEOS}?after={ids[2]}").get_json()
    assert [video["id"] for video in page["data"]] == [ids[1], ids[0]]
    ascending = env.client.get(f"{VIDEOS}?order=asc").get_json()
    assert [video["id"] for video in ascending["data"]] == [ids[0], ids[1], ids[3], ids[4]]
    empty = env.client.get(f"{VIDEOS}?after={ids[0]}").get_json()
    assert empty == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=ten", "order=up", "after=video_nope"])
def test_bad_list_queries_are_400(env: SimEnv, query: str) -> None:
    assert _error(env.client.get(f"{VIDEOS}?{query}"), 400)["param"] == query.split("=")[0]


def test_remix_makes_a_new_job_from_a_completed_video(env: SimEnv) -> None:
    source = _create(env, model="sora-2-pro", seconds="8", size="1280x720")
    refused = _error(env.client.post(f"{VIDEOS}/{source['id']}/remix", json={"prompt": "again"}), 400)
    assert "not completed" in refused["message"]
    env.clock.advance(env.job_seconds)
    remix = env.client.post(f"{VIDEOS}/{source['id']}/remix", json={"prompt": "now at night"}).get_json()
    assert remix["id"] != source["id"] and remix["status"] == "queued"
    assert remix["remixed_from_video_id"] == source["id"] and remix["prompt"] == "now at night"
    assert (remix["model"], remix["seconds"], remix["size"]) == ("sora-2-pro", "8", "1280x720")
    assert _error(env.client.post(f"{VIDEOS}/{source['id']}/remix", json={}), 400)["param"] == "prompt"
    bad = env.client.post(f"{VIDEOS}/{source['id']}/remix", json={"prompt": "x", "size": "1x1"})
    assert _error(bad, 400)["code"] == "unknown_parameter"
    assert env.client.get("/_sim/stats").get_json()["openai"]["submissions"] == 2


@pytest.mark.parametrize(("kind", "code"), [("moderation", "moderation_blocked"), ("fail_job", "internal_error")])
def test_injected_job_failures_end_failed_with_a_reason(env: SimEnv, kind: str, code: str) -> None:
    env.client.post("/_sim/faults", json={"vendor": "openai", "op": "create", "kind": kind})
    failing = _create(env)
    healthy = _create(env)
    env.clock.advance(env.job_seconds / 2)
    assert env.client.get(f"{VIDEOS}/{failing['id']}").get_json()["status"] == "in_progress"
    env.clock.advance(env.job_seconds)
    video = env.client.get(f"{VIDEOS}/{failing['id']}").get_json()
    assert video["status"] == "failed" and video["error"]["code"] == code and video["error"]["message"]
    assert video["expires_at"] is None
    assert env.client.get(f"{VIDEOS}/{healthy['id']}").get_json()["status"] == "completed"
    not_ready = _error(env.client.get(f"{VIDEOS}/{failing['id']}/content"), 404)
    assert not_ready["code"] == "video_not_ready" and "failed" in not_ready["message"]


def test_failure_message_can_be_chosen_when_arming_the_fault(env: SimEnv) -> None:
    env.client.post(
        "/_sim/faults", json={"vendor": "openai", "kind": "moderation", "message": "Blocked: contains a logo."}
    )
    video_id = _create(env)["id"]
    env.clock.advance(env.job_seconds)
    assert env.client.get(f"{VIDEOS}/{video_id}").get_json()["error"] == {
        "code": "moderation_blocked",
        "message": "Blocked: contains a logo.",
    }


def test_a_fresh_app_has_its_own_state(env: SimEnv) -> None:
    _create(env)
    other: Flask = create_app()
    assert get_simulator(env.app) is env.sim and get_simulator(other) is not env.sim
    listing = other.test_client().get(VIDEOS, headers={"Authorization": "Bearer sk-sim-openai"}).get_json()
    assert listing["data"] == []
    assert get_simulator(other).settings.job_seconds == (3.0, 3.0)  # from the (cleared) environment
