"""The whole system with real processes: Celery worker and beat, the web over HTTP, the OpenAI SDK as client.

Runs twice: on the embedded default (SQLite, SQLAlchemy broker) and on PostgreSQL + Redis.
"""
from __future__ import annotations

import hashlib
import time

import openai
import pytest
import requests
from sqlalchemy import select

from app.extensions import celery, db, settings
from app.models import Task
from simulators import media
from tests.integration.conftest import Stack


def wait_for(client: openai.OpenAI, video_id: str, timeout: float = 90) -> openai.types.Video:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        video = client.videos.retrieve(video_id)
        if video.status in ("completed", "failed"):
            return video
        time.sleep(0.3)
    raise AssertionError(f"video {video_id} did not finish in {timeout}s (last status {video.status})")


def test_openai_sdk_end_to_end(stack: Stack) -> None:
    client = stack.client()
    created = client.videos.create(model="sora-2", prompt="a red fox in snow", seconds="4", size="1280x720")
    assert created.status == "queued" and created.model == "sora-2"

    video = wait_for(client, created.id)
    assert video.status == "completed" and video.progress == 100, video
    assert video.expires_at and video.completed_at

    content = client.videos.download_content(created.id).read()
    with db.session() as session:
        upstream_id = session.scalar(select(Task.upstream_id).where(Task.public_id == created.id))
    assert hashlib.sha256(content).hexdigest() == media.video_sha256(upstream_id)

    ranged = requests.get(f"{stack.base_url}/v1/videos/{created.id}/content",
                          headers={"Authorization": f"Bearer {stack.token}", "Range": "bytes=100-199"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == content[100:200]
    assert ranged.headers["Content-Range"] == f"bytes 100-199/{len(content)}"

    listed = client.videos.list()
    assert created.id in [v.id for v in listed.data]

    deleted = client.videos.delete(created.id)
    assert deleted.deleted is True
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(created.id)
    stats = stack.sim.state.stats.snapshot(stack.sim.state.jobs, stack.sim.state.clock())["openai"]
    assert stats["submissions"] == 1


def test_a_lost_message_is_recovered_by_the_dispatcher(stack: Stack) -> None:
    """A task whose first message never reached a worker still completes: the table is the schedule."""
    client = stack.client()
    created = client.videos.create(model="sora-2", prompt="a lost message", seconds="4")
    with db.transaction() as session:  # as if the broker lost the message long ago and the step is overdue
        task = session.scalar(select(Task).where(Task.public_id == created.id))
        if task.state == "pending":
            task.sent_at = time.time() - 2 * settings().resend_after_seconds
    assert wait_for(client, created.id).status == "completed"


def test_a_poll_message_of_the_old_format_is_dropped_and_nothing_stalls(stack: Stack) -> None:
    """Polls now travel in batches (`vidgate.poll_batch`); a per-task `vidgate.poll` left in the broker by the
    previous release is rejected by the worker, and the dispatcher's own messages carry the task through."""
    client = stack.client()
    created = client.videos.create(model="sora-2", prompt="an old message", seconds="4")
    with db.session() as session:
        task_id = session.scalar(select(Task.id).where(Task.public_id == created.id))
    celery.send_task("vidgate.poll", args=[task_id], queue="openai")
    assert wait_for(client, created.id).status == "completed"
    deadline = time.monotonic() + 30
    while "unregistered task of type 'vidgate.poll'" not in (stack.logs / "worker.log").read_text():
        assert time.monotonic() < deadline, "the worker never reported the old message"
        time.sleep(0.2)
