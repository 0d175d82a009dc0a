"""Reads without the ORM: a row of VIEW_COLUMNS answers exactly as the Task does, in one autocommit statement."""
from __future__ import annotations

import json
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from app.extensions import db
from app.models import Task
from app.routes import jimeng, task_view
from app.routes.jimeng import result
from app.routes.kling import kling_task
from app.routes.videos import video_list
from app.schemas import GenerationSchema, JimengSchema, KlingTaskSchema, VideoListSchema, VideoSchema
from app.serializers import generation_object, inserted_view, video_object


def create(client: FlaskClient, auth: dict[str, str]) -> str:
    response = client.post("/v1/videos", json={"model": "sora-2", "prompt": "a fox", "seconds": "4",
                                               "metadata": {"k": "v"}}, headers=auth)
    assert response.status_code == 200, response.json
    return response.json["id"]


STATES = {
    "queued": {},
    "running": {"state": "running", "upstream_status": "running", "progress": 40},
    "completed": {"state": "completed", "progress": 100, "completed_at": 1.7e9 + 60, "expires_at": 1.7e9 + 3600,
                  "storage_key": "videos/x.mp4", "sha256": "ab" * 32, "content_type": "video/mp4",
                  "next_action_at": None},
    "failed": {"state": "failed", "error_code": "timeout", "error_message": "too slow", "next_action_at": None},
}


@pytest.fixture(params=list(STATES))
def public_id(request: pytest.FixtureRequest, client: FlaskClient, auth: dict[str, str]) -> str:
    """A task of the caller in each state a client can see."""
    public_id = create(client, auth)
    with db.transaction() as session:
        session.execute(update(Task).where(Task.public_id == public_id).values(**STATES[request.param]))
    return public_id


def test_a_row_answers_as_the_task_does(app: Flask, auth: dict[str, str], public_id: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jimeng, "request_ms", lambda: 1.0)  # Jimeng's envelope says the time spent so far
    with app.test_request_context(headers=auth), db.session() as session:
        task = session.scalar(select(Task).where(Task.public_id == public_id))
        row = task_view(public_id)
        for serialise in (video_object, generation_object, kling_task, result):
            assert serialise(row) == serialise(task), serialise.__name__  # type: ignore[operator]


def test_objects_are_already_in_their_schemas_shape(app: Flask, auth: dict[str, str], public_id: str) -> None:
    """The routes answer these bodies as they are: a schema's dump must not change a byte, order included."""
    with app.test_request_context(headers=auth):
        row = task_view(public_id)
        for schema, body in ((VideoSchema(), video_object(row)), (GenerationSchema(), generation_object(row)),
                             (KlingTaskSchema(), kling_task(row)), (JimengSchema(), result(row)),
                             (JimengSchema(), result(None)),
                             (VideoListSchema(), video_list([row], has_more=True)),
                             (VideoListSchema(), video_list([], has_more=False))):
            assert json.dumps(schema.dump(body)) == json.dumps(body), type(schema).__name__


def test_status_reads_are_one_autocommit_statement_each(client: FlaskClient, auth: dict[str, str],
                                                        statements: list[tuple[str, bool]]) -> None:
    public_id = create(client, auth)
    paths = [f"/v1/videos/{public_id}", f"/v1/videos/{public_id}/content", f"/v1/video/generations/{public_id}",
             f"/kling/v1/videos/text2video/{public_id}", "/v1/videos"]
    statements.clear()  # the token was checked (and cached) by the create
    for path in paths:
        assert client.get(path, headers=auth).status_code in (200, 404)
    assert len(statements) == len(paths)
    assert all(autocommit for _, autocommit in statements), statements


def test_reads_of_a_deleted_task_are_not_found(client: FlaskClient, auth: dict[str, str]) -> None:
    public_id = create(client, auth)
    with db.transaction() as session:
        session.execute(update(Task).where(Task.public_id == public_id).values(deleted_at=time.time()))
    assert client.get(f"/v1/videos/{public_id}", headers=auth).json["error"]["code"] == "video_not_found"
    assert client.get(f"/v1/video/generations/{public_id}", headers=auth).json["error"]["code"] == "task_not_found"


def test_the_view_of_an_inserted_row_takes_the_columns_defaults_and_needs_the_computed_ones() -> None:
    given = {"public_id": "video_x", "model": "sora-2", "state": "pending", "request": {"prompt": "a fox"},
             "metadata": {"order": 7}, "created_at": 10.0, "updated_at": 10.0, "next_action_at": 10.0}
    view = inserted_view(given)
    assert (view.public_id, view.client_metadata, view.progress) == ("video_x", {"order": 7}, 0)  # progress: default
    assert view.completed_at is None and view.storage_key is None and view.upstream_status is None
    with pytest.raises(ValueError, match="computed default"):
        inserted_view({key: value for key, value in given.items() if key != "created_at"})  # default: now()
