"""Fidelity: the official volcengine SDK's VisualService, unchanged, signs for and drives the Jimeng simulator."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask
from volcengine.visual.VisualService import VisualService

from simulators import jimeng, media
from simulators.app import serve_in_thread
from simulators.core import Settings, Simulator

PNG = b"\x89PNG\r\n\x1a\nfirst frame"


@dataclass
class Live:
    sim: Simulator
    host: str  # host:port, what the SDK is given


@pytest.fixture
def live() -> Iterator[Live]:
    """The Jimeng blueprint at the root, as the SDK calls the real host (it cannot add a path prefix), and at
    /jimeng, where its result links point."""
    sim = Simulator(Settings(job_seconds=(0.3, 0.3), result_ttl=3600.0, pad_bytes=0))
    blueprint = jimeng.create_blueprint(sim)
    app = Flask(__name__)
    app.register_blueprint(blueprint)
    app.register_blueprint(blueprint, url_prefix="/jimeng", name="jimeng_mounted")
    with serve_in_thread(app) as base_url:
        yield Live(sim, base_url.split("//", 1)[1])


def service(live: Live, secret_key: str = "SKSIMJIMENG") -> VisualService:
    # VisualService is a process-wide singleton whose __init__ resets it: configure it afresh every time.
    visual = VisualService()
    visual.set_ak("AKSIMJIMENG")
    visual.set_sk(secret_key)
    visual.set_host(live.host)
    visual.set_scheme("http")
    return visual


def poll_until_done(visual: VisualService, req_key: str, task_id: str) -> dict[str, Any]:
    for _ in range(50):
        answer = visual.cv_sync2async_get_result({"req_key": req_key, "task_id": task_id})
        if answer["data"]["status"] == "done":
            return answer
        time.sleep(0.05)
    raise AssertionError("the task never finished")


def test_submit_poll_and_download_through_the_sdk(live: Live) -> None:
    visual = service(live)
    submitted = visual.cv_sync2async_submit_task({"req_key": "jimeng_t2v_v30", "prompt": "a paper boat",
                                                  "frames": 241, "aspect_ratio": "9:16"})
    assert (submitted["code"], submitted["message"]) == (10000, "Success")
    task_id = submitted["data"]["task_id"]
    first = visual.cv_sync2async_get_result({"req_key": "jimeng_t2v_v30", "task_id": task_id})
    assert first["code"] == 10000 and first["data"]["status"] in ("in_queue", "generating")

    done = poll_until_done(visual, "jimeng_t2v_v30", task_id)
    assert done["code"] == 10000 and done["data"]["video_url"].startswith("http://")
    video = requests.get(done["data"]["video_url"], timeout=5)
    assert video.status_code == 200 and video.content == b"".join(media.video_for(task_id)[1])
    job = live.sim.jobs.get("jimeng", task_id)
    assert job is not None and (job.params["frames"], job.params["aspect_ratio"]) == (241, "9:16")


def test_image_to_video_with_base64_through_the_sdk(live: Live) -> None:
    visual = service(live)
    submitted = visual.cv_sync2async_submit_task({"req_key": "jimeng_i2v_first_v30", "prompt": "it moves",
                                                  "binary_data_base64": [base64.b64encode(PNG).decode()]})
    task_id = submitted["data"]["task_id"]
    assert poll_until_done(visual, "jimeng_i2v_first_v30", task_id)["code"] == 10000
    job = live.sim.jobs.get("jimeng", task_id)
    assert job is not None and job.params["images"][0]["bytes"] == len(PNG)


def test_refusals_reach_the_sdk_in_volcengine_envelopes(live: Live) -> None:
    # The SDK raises on any non-200 answer, with the body as the message.
    with pytest.raises(Exception, match="SignatureDoesNotMatch"):
        service(live, secret_key="SKWRONG").cv_sync2async_submit_task({"req_key": "jimeng_t2v_v30", "prompt": "x"})
    live.sim.faults.add("jimeng", "create", "rate_limit")
    with pytest.raises(Exception, match="50429"):
        service(live).cv_sync2async_submit_task({"req_key": "jimeng_t2v_v30", "prompt": "x"})
    assert live.sim.jobs.list("jimeng") == []
