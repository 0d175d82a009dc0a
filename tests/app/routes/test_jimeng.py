"""Jimeng dialect: Volcengine's Action/Version envelope for submit and get-result, for any vendor's tasks."""
from __future__ import annotations

import base64

from flask.testing import FlaskClient
from sqlalchemy import update

from app.extensions import db
from app.models import Task
from tests.workers.test_steps import load, run_until

SUBMIT = "/jimeng/?Action=CVSync2AsyncSubmitTask&Version=2022-08-31"
RESULT = "/jimeng/?Action=CVSync2AsyncGetResult&Version=2022-08-31"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32).decode()


def test_submit_and_get_result_until_done(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.post(SUBMIT, headers=auth, json={"req_key": "sora-2", "prompt": "a fox"})
    body = response.json
    assert response.status_code == 200 and (body["code"], body["status"], body["message"]) == (10000, 10000, "Success")
    task_id = body["data"]["task_id"]
    assert body["time_elapsed"].endswith("ms") and body["request_id"]
    first = client.post(RESULT, headers=auth, json={"req_key": "sora-2", "task_id": task_id}).json
    assert first["data"]["status"] == "in_queue" and first["data"]["video_url"] == ""
    run_until(load(task_id).id, ("completed",))
    done = client.post(RESULT, headers=auth, json={"req_key": "sora-2", "task_id": task_id}).json
    assert done["code"] == 10000 and done["data"]["status"] == "done"
    assert done["data"]["video_url"].endswith(f"/v1/videos/{task_id}/content")


def test_a_failed_task_is_done_with_a_failure_code(client: FlaskClient, auth: dict[str, str]) -> None:
    task_id = client.post(SUBMIT, headers=auth, json={"req_key": "sora-2", "prompt": "p"}).json["data"]["task_id"]
    with db.transaction() as session:
        session.execute(update(Task).where(Task.public_id == task_id).values(
            state="failed", error_code="content_policy", error_message="Post Text Risk Not Pass", next_action_at=None))
    body = client.post(RESULT, headers=auth, json={"req_key": "sora-2", "task_id": task_id}).json
    assert body["data"]["status"] == "done" and body["code"] == 50412 and body["message"] == "Post Text Risk Not Pass"


def test_unknown_tasks_are_not_found(client: FlaskClient, auth: dict[str, str]) -> None:
    body = client.post(RESULT, headers=auth, json={"req_key": "x", "task_id": "video_unknown"}).json
    assert body["code"] == 10000 and body["data"]["status"] == "not_found"


def test_images_map_to_first_and_last_frames(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.post(SUBMIT, headers=auth, json={"req_key": "sora-2", "prompt": "p",
                                                       "binary_data_base64": [PNG, PNG]})
    # the OpenAI-compatible upstream cannot do a last frame: refused at submission, in Jimeng's envelope
    assert response.status_code == 400 and response.json["code"] == 50400
    assert "last_image" in response.json["message"]


def test_bad_requests_answer_in_the_same_envelope(client: FlaskClient, auth: dict[str, str]) -> None:
    for path in ("/jimeng/", "/jimeng/?Action=Nope&Version=2022-08-31", "/jimeng/?Action=CVSync2AsyncSubmitTask"):
        response = client.post(path, headers=auth, json={"req_key": "sora-2", "prompt": "p"})
        assert response.status_code == 400 and response.json["code"] == 50400 and response.json["data"] is None
    frames = client.post(SUBMIT, headers=auth, json={"req_key": "sora-2", "prompt": "p", "frames": 100})
    assert frames.status_code == 400 and "frames" in frames.json["message"]
    # 121 frames are 5 seconds, which this upstream does not offer: refused naming the duration
    five = client.post(SUBMIT, headers=auth, json={"req_key": "sora-2", "prompt": "p", "frames": 121})
    assert five.status_code == 400 and "durations of 4, 8, 12 seconds" in five.json["message"]
    unknown = client.post(SUBMIT, headers=auth, json={"req_key": "sora-2", "prompt": "p", "colour": 1})
    assert unknown.status_code == 400 and "colour" in unknown.json["message"]
    assert client.post(SUBMIT, json={"req_key": "sora-2"}).json["code"] == 50401
