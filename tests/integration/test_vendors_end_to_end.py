"""Every vendor through real workers on PostgreSQL and Redis, in each dialect that applies, to downloaded bytes.

The seed documents' request forms are sent verbatim; each task's stored file must be byte-identical to what
that vendor's simulator served for the job it created.
"""
from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

import pytest

from tests.integration.conftest import Stack

pytestmark = pytest.mark.services

SUBMIT_JIMENG = "/jimeng/?Action=CVSync2AsyncSubmitTask&Version=2022-08-31"
RESULT_JIMENG = "/jimeng/?Action=CVSync2AsyncGetResult&Version=2022-08-31"

# Seed 004's four request forms, exactly as written there.
SEED_004_FORMS = {
    "text2video": {"model": "viduq3p-720p", "prompt": " camera, and, slow camera push-in. ", "aspect_ratio": "16:9",
                   "duration": 5, "extra_body": {"audio": False, "seed": 42, "bgm": False}},
    "img2video": {"model": "viduq3t-540p", "prompt": " camera, natural motion, camera. ",
                  "image": "https://example.com/source.png", "duration": 5, "extra_body": {"seed": 42}},
    "start-end2video": {"model": "viduq3p-1080p-offpeak", "prompt": ", keep identity stable, action. ",
                        "image": "https://example.com/head.png", "last_image": "https://example.com/tail.png",
                        "duration": 6},
    "reference2video": {"model": "viduq3p-mix-720p",
                        "prompt": "A @Image1 walking through a beach in the visual style of @Image2",
                        "reference_image_urls": ["https://example.com/ref-1.png", "https://example.com/ref-2.png"],
                        "aspect_ratio": "16:9", "duration": 5, "extra_body": {"audio": False, "seed": 42}},
}

# One unified text-to-video request per vendor, on a model of the seed catalogs where one exists.
UNIFIED = {
    "openai": {"model": "sora-2", "seconds": "4"},
    "kling": {"model": "kling-video", "duration": 5},
    "jimeng": {"model": "jimeng-video-3.0", "duration": 5},
    "vidu": {"model": "viduq3-turbo", "duration": 5},
    "veo": {"model": "veo3-fast", "duration": 8},
    "seedance": {"model": "doubao-seedance-1-0-pro-250528", "duration": 5},
    "hailuo": {"model": "hailuo-video", "duration": 6},
    "wan": {"model": "wan2.5-t2v-preview", "duration": 5},
}


def unique(prompt: str = "") -> str:
    return f"{prompt}{uuid.uuid4().hex[:8]}"


def wait_completed(stack: Stack, task_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = stack.call("GET", f"/v1/video/generations/{task_id}").json()
        if task["status"] in ("completed", "failed"):
            assert task["status"] == "completed", task
            return task
        time.sleep(0.3)
    raise AssertionError(f"{task_id} did not finish")


def assert_bytes_match_the_vendor(stack: Stack, task_id: str, vendor: str, prompt: str) -> None:
    content = stack.call("GET", f"/v1/videos/{task_id}/content").content
    [job] = [job for job in stack.sim.state.jobs.list(vendor) if job.prompt == prompt]
    assert hashlib.sha256(content).hexdigest() in job.served_sha256


@pytest.mark.parametrize("vendor", sorted(UNIFIED))
def test_unified_dialect_reaches_every_vendor(services_stack: Stack, vendor: str) -> None:
    prompt = unique("a red fox ")
    response = services_stack.call("POST", "/v1/video/generations", json={**UNIFIED[vendor], "prompt": prompt})
    assert response.status_code == 200, response.text
    task = wait_completed(services_stack, response.json()["id"])
    assert task["format"] == "mp4" and task["url"].endswith("/content")
    assert_bytes_match_the_vendor(services_stack, task["id"], vendor, prompt)


def test_seed_004_forms_reach_vidu_by_the_right_create_path(services_stack: Stack) -> None:
    ids = {}
    for path, body in SEED_004_FORMS.items():
        response = services_stack.call("POST", "/v1/video/generations", json=body)
        assert response.status_code == 200, (path, response.text)
        ids[path] = response.json()["id"]
    for path, body in SEED_004_FORMS.items():
        wait_completed(services_stack, ids[path])
        [job] = [job for job in services_stack.sim.state.jobs.list("vidu") if job.prompt == body["prompt"]]
        assert job.params["path"] == path
        assert_bytes_match_the_vendor(services_stack, ids[path], "vidu", body["prompt"])


def test_kling_dialect_end_to_end_on_kling(services_stack: Stack) -> None:
    prompt = unique("kling ")
    created = services_stack.call("POST", "/kling/v1/videos/text2video", json={
        "model_name": "kling-v1", "prompt": prompt, "duration": "5", "external_task_id": "client-7"}).json()
    assert created["code"] == 0 and created["data"]["task_status"] == "submitted"
    wait_completed(services_stack, created["data"]["task_id"])
    body = services_stack.call("GET", f"/kling/v1/videos/text2video/{created['data']['task_id']}").json()
    assert body["data"]["task_status"] == "succeed" and body["data"]["task_info"]["external_task_id"] == "client-7"
    assert_bytes_match_the_vendor(services_stack, created["data"]["task_id"], "kling", prompt)


def test_jimeng_dialect_end_to_end_on_jimeng(services_stack: Stack) -> None:
    prompt = unique("jimeng ")
    submitted = services_stack.call("POST", SUBMIT_JIMENG, json={
        "req_key": "jimeng_t2v_v30", "prompt": prompt, "frames": 121, "aspect_ratio": "16:9"}).json()
    assert submitted["code"] == 10000
    task_id = submitted["data"]["task_id"]
    wait_completed(services_stack, task_id)
    result = services_stack.call("POST", RESULT_JIMENG, json={"req_key": "jimeng_t2v_v30", "task_id": task_id}).json()
    assert result["code"] == 10000 and result["data"]["status"] == "done" and result["data"]["video_url"]
    assert_bytes_match_the_vendor(services_stack, task_id, "jimeng", prompt)


def test_tokens_and_channel_secrets_never_reach_the_logs(services_stack: Stack, capfd: pytest.CaptureFixture[str]
                                                          ) -> None:
    """Every process logs at DEBUG while vendors with every kind of credential serve a task each."""
    from app.extensions import channels

    prompts = {}
    for vendor in ("openai", "kling", "jimeng", "veo", "vidu"):
        prompts[vendor] = unique(f"{vendor} secret check ")
        task = services_stack.call("POST", "/v1/video/generations", json={**UNIFIED[vendor], "prompt": prompts[vendor]})
        wait_completed(services_stack, task.json()["id"])
    web_output = capfd.readouterr()
    logs = web_output.out + web_output.err + "".join(
        path.read_text(errors="replace") for path in services_stack.logs.glob("*.log"))
    assert logs.count('"message": "submitted"') >= len(prompts)  # the logs are there and say things
    secrets = {services_stack.token, *(s for c in channels.all for s in c.secrets)}
    assert len(secrets) >= 6
    leaked = {secret[:6] + "…" for secret in secrets if secret in logs}
    assert not leaked, f"secrets in the logs: {leaked}"
