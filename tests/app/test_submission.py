"""The create path: one INSERT (shared by concurrent creates), nothing sent from the request, races replayed."""
from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import submission
from app.extensions import celery, db
from app.models import Task
from workers import steps


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, str]]:
    """Celery messages sent from now on (task name, first argument, queue), recorded instead of published."""
    messages: list[tuple[str, Any, str]] = []
    monkeypatch.setattr(celery, "send_task", lambda name, args, queue, **_: messages.append((name, args[0], queue)))
    return messages


def load(public_id: str) -> Task:
    with db.session() as session:
        return session.scalar(select(Task).where(Task.public_id == public_id))


def test_a_create_sends_nothing_and_the_dispatcher_sends_its_first_step(
    client: FlaskClient, auth: dict[str, str], sent: list[tuple[str, Any, str]]
) -> None:
    before = time.time()
    response = client.post("/v1/videos", json={"model": "sora-2", "prompt": "a fox"}, headers=auth)
    assert response.status_code == 200 and response.json["status"] == "queued"
    assert sent == []
    task = load(response.json["id"])
    assert task.state == "pending" and task.sent_at is None
    assert before <= task.created_at == task.next_action_at <= time.time()
    assert steps.dispatch() == 1
    assert sent == [("vidgate.submit_batch", [task.id], "openai")]


def test_an_idempotency_key_race_lost_at_the_insert_replays_the_winner(
    client: FlaskClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = {**auth, "Idempotency-Key": "race-1"}
    body = {"model": "sora-2", "prompt": "a fox"}
    winner = client.post("/v1/videos", json=body, headers=headers).json
    real_replay, looks = submission._replay, []

    def replay_after_the_check(*args: Any) -> Any:
        looks.append(args)  # the first look finds nothing, as if the winner's INSERT came just after it
        return real_replay(*args) if len(looks) > 1 else None

    monkeypatch.setattr(submission, "_replay", replay_after_the_check)
    loser = client.post("/v1/videos", json=body, headers=headers)
    assert loser.status_code == 200 and loser.json == winner and len(looks) == 2
    with db.session() as session:
        assert session.query(Task).count() == 1


def test_concurrent_creates_are_each_answered_with_their_own_task_and_one_per_idempotency_key(
    app: Flask, auth: dict[str, str]
) -> None:
    """Creates that meet in one multi-row INSERT (app.group_insert): a task each, and one for a shared key."""
    answers: list[tuple[int, dict[str, Any]]] = []

    def create(n: int) -> None:
        headers = {**auth, "Idempotency-Key": "shared"} if n % 2 else auth
        response = app.test_client().post("/v1/videos", json={"model": "sora-2", "prompt": "a fox"}, headers=headers)
        answers.append((n, response.json))

    threads = [threading.Thread(target=create, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(n for n, _ in answers) == list(range(16))
    keyed = {answer["id"] for n, answer in answers if n % 2}
    plain = [answer["id"] for n, answer in answers if not n % 2]
    assert len(keyed) == 1 and len(set(plain)) == 8
    with db.session() as session:
        stored = set(session.scalars(select(Task.public_id)))
    assert stored == keyed | set(plain)
    assert all(answer["status"] == "queued" and answer["model"] == "sora-2" for _, answer in answers)


@pytest.mark.parametrize("path", ["/v1/videos", "/v1/video/generations"])
def test_a_create_answers_what_reading_its_row_back_answers(
    client: FlaskClient, auth: dict[str, str], path: str
) -> None:
    """The create's answer is made from the values written (app.serializers.inserted_view), not read back."""
    body = {"model": "sora-2", "prompt": "a fox", "seconds": "8", "size": "720x1280", "metadata": {"order": 7}}
    created = client.post(path, json=body, headers=auth)
    assert created.status_code == 200
    read = client.get(f"{path}/{created.json.get('id') or created.json['task_id']}", headers=auth)
    assert read.status_code == 200 and created.json.items() <= read.json.items()
    assert len(created.json) > 4  # the unified create answers a part of the task, the OpenAI create all of it
