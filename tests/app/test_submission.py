"""The create path: one INSERT, no message from the request (the dispatcher sends the first step), races replayed."""
from __future__ import annotations

import time
from typing import Any

import pytest
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
    assert sent == [("vidgate.submit", task.id, "openai")]


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
