"""Protocol tests for the Veo (Gemini API) simulator through the Flask test client, on a fake clock."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from werkzeug.test import TestResponse

from simulators import media
from simulators.app import create_app
from tests.simulators.conftest import SimEnv, sim_env

KEY = "veo-sim-key"
API = "/veo/v1beta"
MODEL = "veo-3.1-generate-preview"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
INLINE = {"bytesBase64Encoded": base64.b64encode(PNG).decode(), "mimeType": "image/png"}


@pytest.fixture
def env() -> SimEnv:
    return sim_env({"x-goog-api-key": KEY})


def _create(env: SimEnv, model: str = MODEL, **body: Any) -> str:
    payload = {"instances": [{"prompt": "a lighthouse at dusk"}], **body}
    response = env.client.post(f"{API}/models/{model}:predictLongRunning", json=payload)
    assert response.status_code == 200, response.get_json()
    name = response.get_json()["name"]
    assert name.startswith(f"models/{model}/operations/")
    return name


def _error(response: TestResponse, status: int, status_word: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert (error["code"], error["status"]) == (status, status_word) and error["message"]
    return error


def _stats(env: SimEnv) -> dict[str, Any]:
    return env.client.get("/_sim/stats").get_json()["veo"]


def test_a_missing_key_is_permission_denied_and_a_wrong_one_an_invalid_argument(env: SimEnv) -> None:
    url = f"{API}/models/{MODEL}:predictLongRunning"
    body = {"instances": [{"prompt": "x"}]}
    assert "unregistered callers" in _error(env.anonymous.post(url, json=body), 403, "PERMISSION_DENIED")["message"]
    wrong = _error(env.anonymous.post(url, json=body, headers={"x-goog-api-key": "nope"}), 400, "INVALID_ARGUMENT")
    assert wrong["details"][0]["reason"] == "API_KEY_INVALID"
    # Google also takes the key as a query parameter.
    assert env.anonymous.post(f"{url}?key={KEY}", json=body).status_code == 200
    assert len(env.sim.jobs.list("veo")) == 1


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDGATE_SIM_VEO_KEY", "custom")
    client = create_app().test_client()
    url = f"{API}/models/{MODEL}:predictLongRunning"
    body = {"instances": [{"prompt": "x"}]}
    assert client.post(url, json=body, headers={"x-goog-api-key": KEY}).status_code == 400
    assert client.post(url, json=body, headers={"x-goog-api-key": "custom"}).status_code == 200


@pytest.mark.parametrize(("model", "body", "fragment"), [
    (MODEL, {"instances": []}, "instances"),
    (MODEL, {"instances": [{}]}, "prompt"),
    (MODEL, {"instances": [{"prompt": "x", "mask": {}}]}, "`mask`"),
    (MODEL, {"instances": [{"prompt": "x"}], "parameters": {"seed": 1}}, "`seed`"),
    (MODEL, {"instances": [{"prompt": "x"}], "parameters": {"aspectRatio": "1:1"}}, "aspect ratio"),
    (MODEL, {"instances": [{"prompt": "x"}], "parameters": {"durationSeconds": 5}}, "durationSeconds"),
    (MODEL, {"instances": [{"prompt": "x"}], "parameters": {"durationSeconds": "8"}}, "durationSeconds"),
    (MODEL, {"instances": [{"prompt": "x"}], "parameters": {"resolution": "4k", "durationSeconds": 4}}, "8 seconds"),
    (MODEL, {"instances": [{"prompt": "x"}], "parameters": {"sampleCount": 2}}, "sampleCount"),
    (MODEL, {"instances": [{"prompt": "x"}], "parameters": {"personGeneration": "everyone"}}, "personGeneration"),
    ("veo-3.0-generate-001", {"instances": [{"prompt": "x"}], "parameters": {"resolution": "4k"}}, "resolution"),
    ("veo-3.0-generate-001", {"instances": [{"prompt": "x", "image": INLINE, "lastFrame": INLINE}]}, "lastFrame"),
    (MODEL, {"instances": [{"prompt": "x", "lastFrame": INLINE}]}, "first frame"),
    (MODEL, {"instances": [{"prompt": "x", "image": {"gcsUri": "gs://b/o.png"}}]}, "gcsUri"),
    (MODEL, {"instances": [{"prompt": "x", "image": {"bytesBase64Encoded": "!!", "mimeType": "image/png"}}]},
     "Base64"),
    (MODEL, {"instances": [{"prompt": "x", "referenceImages": [{"image": INLINE, "referenceType": "asset"}] * 4}]},
     "referenceImages"),
    (MODEL, {"instances": [{"prompt": "x", "referenceImages": [{"image": INLINE, "referenceType": "asset"}]}],
             "parameters": {"aspectRatio": "9:16"}}, "16:9"),
])
def test_invalid_requests_are_invalid_argument(env: SimEnv, model: str, body: dict[str, Any], fragment: str) -> None:
    response = env.client.post(f"{API}/models/{model}:predictLongRunning", json=body)
    assert fragment in _error(response, 400, "INVALID_ARGUMENT")["message"]
    assert env.sim.jobs.list("veo") == [] and _stats(env)["create_requests"] == 0


def test_unknown_models_methods_and_paths_are_not_found(env: SimEnv) -> None:
    body = {"instances": [{"prompt": "x"}]}
    _error(env.client.post(f"{API}/models/veo-9:predictLongRunning", json=body), 404, "NOT_FOUND")
    _error(env.client.post(f"{API}/models/{MODEL}:generateContent", json=body), 404, "NOT_FOUND")
    _error(env.client.get(f"{API}/models/{MODEL}/operations/nope"), 404, "NOT_FOUND")
    _error(env.client.get(f"{API}/tunedModels"), 404, "NOT_FOUND")


def test_images_are_recorded_and_the_operation_runs_until_done(env: SimEnv) -> None:
    reference = {"image": INLINE, "referenceType": "asset"}
    name = _create(env, instances=[{"prompt": "x", "referenceImages": [reference, reference]}],
                   parameters={"durationSeconds": 8, "resolution": "1080p", "negativePrompt": "fog",
                               "personGeneration": "allow_adult"})
    job = env.sim.jobs.list("veo")[0]
    assert job.params["images"]["referenceImages"] == [{"mimeType": "image/png", "bytes": len(PNG)}] * 2
    assert (job.params["resolution"], job.params["durationSeconds"], job.params["negativePrompt"]) == (
        "1080p", 8, "fog")
    seen = []
    for _ in range(11):
        seen.append(env.client.get(f"{API}/{name}").get_json())
        env.clock.advance(1)
    assert seen[0] == {"name": name} and seen[9] == {"name": name}  # no `done` while running
    done = seen[10]
    assert done["done"] is True and done["response"]["@type"].endswith("PredictLongRunningResponse")
    uri = done["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]
    assert uri.startswith("http://localhost/veo/v1beta/files/") and uri.endswith(":download?alt=media")
    assert _stats(env)["polls"] == {name.rsplit("/", 1)[1]: 11}


def test_the_file_needs_the_key_and_serves_the_jobs_mp4(env: SimEnv) -> None:
    name = _create(env)
    env.clock.advance(10)
    uri = env.client.get(f"{API}/{name}").get_json()["response"]["generateVideoResponse"]["generatedSamples"][0][
        "video"]["uri"]
    path = uri.removeprefix("http://localhost")
    _error(env.anonymous.get(path), 403, "PERMISSION_DENIED")
    _error(env.client.get(path.replace("?alt=media", "")), 400, "INVALID_ARGUMENT")
    response = env.client.get(path)
    job_id = name.rsplit("/", 1)[1]
    expected = b"".join(media.video_for(job_id)[1])
    assert response.status_code == 200 and response.mimetype == "video/mp4" and response.data == expected
    assert _stats(env)["served_sha256"] == {job_id: [hashlib.sha256(expected).hexdigest()]}


def test_a_handed_out_uri_expires_and_a_fresh_read_renews_it(env: SimEnv) -> None:
    env.sim.settings.update({"url_ttl": 60})
    name = _create(env)
    env.clock.advance(10)
    uri = env.client.get(f"{API}/{name}").get_json()["response"]["generateVideoResponse"]["generatedSamples"][0][
        "video"]["uri"]
    path = uri.removeprefix("http://localhost")
    env.clock.advance(61)
    _error(env.client.get(path), 404, "NOT_FOUND")
    env.client.get(f"{API}/{name}")  # the same URI, handed out again
    assert env.client.get(path).status_code == 200
    env.client.post("/_sim/faults", json={"vendor": "veo", "op": "content", "kind": "expired"})
    _error(env.client.get(path), 404, "NOT_FOUND")  # gone for good
    env.client.get(f"{API}/{name}")
    _error(env.client.get(path), 404, "NOT_FOUND")


def test_moderation_is_an_rai_block_and_a_failed_job_an_operation_error(env: SimEnv) -> None:
    env.client.post("/_sim/faults", json={"vendor": "veo", "op": "create", "kind": "moderation"})
    env.client.post("/_sim/faults", json={"vendor": "veo", "op": "create", "kind": "fail_job", "message": "boom"})
    blocked, failed = _create(env), _create(env)
    env.clock.advance(10)
    rai = env.client.get(f"{API}/{blocked}").get_json()
    video_response = rai["response"]["generateVideoResponse"]
    assert rai["done"] is True and "generatedSamples" not in video_response
    assert video_response["raiMediaFilteredCount"] == 1 and "Responsible AI" in video_response[
        "raiMediaFilteredReasons"][0]
    assert env.client.get(f"{API}/{failed}").get_json() == {"name": failed, "done": True,
                                                             "error": {"code": 13, "message": "boom"}}


@pytest.mark.parametrize(("kind", "status", "status_word"), [
    ("rate_limit", 429, "RESOURCE_EXHAUSTED"),
    ("server_error", 500, "INTERNAL"),
    ("unavailable", 503, "UNAVAILABLE"),
    ("timeout", 504, "DEADLINE_EXCEEDED"),
])
def test_faults_answer_in_googles_envelope(env: SimEnv, kind: str, status: int, status_word: str) -> None:
    env.client.post("/_sim/faults", json={"vendor": "veo", "op": "create", "kind": kind, "retry_after": 2}
                    if kind == "rate_limit" else {"vendor": "veo", "op": "create", "kind": kind})
    response = env.client.post(f"{API}/models/{MODEL}:predictLongRunning", json={"instances": [{"prompt": "x"}]})
    _error(response, status, status_word)
    if kind == "rate_limit":
        assert response.headers["Retry-After"] == "2"
    assert env.sim.jobs.list("veo") == []
    name = _create(env)  # one request only
    env.client.post("/_sim/faults", json={"vendor": "veo", "op": "poll", "kind": kind})
    _error(env.client.get(f"{API}/{name}"), status, status_word)
