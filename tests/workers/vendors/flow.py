"""Shared steps of the vendor flow tests: submit through the gateway, drive the task with the real steps against
the simulator, find its simulator job, and the failure-then-recovery sequences every vendor goes through."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from app.extensions import storage
from app.models import Task
from simulators import media
from simulators.core import Job
from tests.conftest import Sim, make_settings, prepared_app
from tests.workers.test_steps import load, make_due, run_until
from workers import steps

GENERATIONS = "/v1/video/generations"
ENDED = ("completed", "failed")


def _same(upstream_id: str) -> str:
    return upstream_id


@dataclass(frozen=True)
class Upstream:
    """A vendor as its simulator knows it: `job_id` reads the simulator's job id out of a task's upstream id
    (which some adapters pack more into, such as Kling's endpoint or Jimeng's req_key)."""

    name: str
    job_id: Callable[[str], str] = _same

    def job(self, sim: Sim, task: Task) -> Job:
        job = sim.state.jobs.get(self.name, self.job_id(task.upstream_id or ""))
        assert job is not None, f"no {self.name} job for {task.upstream_id!r}"
        return job

    def stats(self, sim: Sim) -> dict[str, Any]:
        return sim.state.stats.snapshot(sim.state.jobs, sim.state.clock(), (self.name,))[self.name]

    def polls(self, sim: Sim, task: Task) -> int:
        return self.stats(sim)["polls"].get(self.job_id(task.upstream_id or ""), 0)


def app_allowing(tmp_path: Path, sim: Sim, *hosts: str) -> Flask:
    """The gateway, also taking image URLs on `hosts` without resolving them (the tests have no network)."""
    allowed = ",".join((sim.url.split("//", 1)[1], *hosts))
    return prepared_app(make_settings(tmp_path / "instance", sim.url, VIDGATE_ALLOW_PRIVATE_HOSTS=allowed))


def submitted(client: FlaskClient, auth: dict[str, str], body: dict[str, Any], route: str = GENERATIONS
              ) -> dict[str, Any]:
    """Submit `body` through the gateway (the unified dialect unless `route` says otherwise): its answer."""
    response = client.post(route, json=body, headers=auth)
    assert response.status_code == 200, response.json
    return response.json


def generate(client: FlaskClient, auth: dict[str, str], body: dict[str, Any], route: str = GENERATIONS) -> int:
    """Submit `body` through the gateway: the task's row id."""
    return load(submitted(client, auth, body, route)["id"]).id


def refused(client: FlaskClient, auth: dict[str, str], body: dict[str, Any],
            route: str = GENERATIONS) -> dict[str, Any]:
    """Submit a body the vendor cannot take: the 400's error object."""
    response = client.post(route, json=body, headers=auth)
    assert response.status_code == 400, response.json
    return response.json["error"]


def assert_completed(task: Task, upstream: Upstream) -> None:
    """The task ended with the exact bytes the simulator made for its job."""
    assert task.state == "completed", task.error_message
    assert task.sha256 == media.video_sha256(upstream.job_id(task.upstream_id or ""))


def assert_stored(task: Task) -> None:
    """The task's file is in storage whole: the size recorded, and an MP4 (its `ftyp` box) inside."""
    handle, size = storage.open(task.storage_key)
    with handle:
        assert size == task.size_bytes and handle.read(8)[4:8] == b"ftyp"


def rate_limited_then_recovers(sim: Sim, upstream: Upstream, task_id: int, retry_after: float) -> Task:
    """The vendor refuses the first submission with a rate limit: the task waits out Retry-After as pending,
    with nothing created upstream, then a second submission completes it."""
    sim.state.faults.add(upstream.name, "create", "rate_limit", retry_after=retry_after)
    before = time.time()
    steps.submit([task_id])
    task = load(task_id)
    assert (task.state, task.submit_attempts, task.upstream_id) == ("pending", 1, None)
    assert task.next_action_at >= before + retry_after  # Retry-After honoured
    task = run_until(task_id, ENDED)
    assert_completed(task, upstream)
    assert (upstream.stats(sim)["create_requests"], upstream.stats(sim)["submissions"]) == (2, 1)
    return task


def listed_in_one_call(sim: Sim, upstream: Upstream, task_ids: list[int]) -> None:
    """Jobs that have finished, asked about in one poll batch: one call of the vendor's list answers for them all,
    and each goes on to completion."""
    time.sleep(0.6)  # the simulator's jobs last 0.5 s
    steps.poll(task_ids)
    assert [load(i).state for i in task_ids] == ["downloading"] * len(task_ids)
    stats = upstream.stats(sim)
    assert stats["list_requests"] == 1 and stats["polls_total"] == len(task_ids)  # each read once, by the list
    assert [run_until(i, ENDED).state for i in task_ids] == ["completed"] * len(task_ids)


def failing_list_falls_back_to_one_call_per_task(sim: Sim, upstream: Upstream, task_ids: list[int]) -> None:
    time.sleep(0.6)
    sim.state.faults.add(upstream.name, "poll", "server_error")  # the list call takes it
    steps.poll(task_ids)
    assert [load(i).state for i in task_ids] == ["downloading"] * len(task_ids)
    stats = upstream.stats(sim)
    assert stats["list_requests"] == 1 and stats["polls_total"] == len(task_ids)  # each read once, on its own


def moderated(sim: Sim, upstream: Upstream, task_id: int) -> Task:
    """The vendor's moderation refuses the job: the task fails with the stable code."""
    sim.state.faults.add(upstream.name, "create", "moderation")
    task = run_until(task_id, ENDED)
    assert (task.state, task.error_code) == ("failed", "content_policy")
    return task


@contextmanager
def expired_links(sim: Sim) -> Iterator[None]:
    """Result links the simulator hands out meanwhile have already expired."""
    sim.state.settings.update({"url_ttl": 0})
    try:
        yield
    finally:
        sim.state.settings.update({"url_ttl": 3600})


def expired_link_then_recovers(sim: Sim, upstream: Upstream, task_id: int) -> Task:
    """The result link is dead when the download comes (handed out by the poll that ended the job, or, for
    vendors that make links on request, by the download itself): the task goes back to polling, and a fresh
    poll's link completes it."""
    with expired_links(sim):
        run_until(task_id, ("downloading",))
        make_due(task_id)
        steps.download(task_id)
    task = load(task_id)
    assert (task.state, task.download_attempts, task.storage_key) == ("running", 1, None)
    polls_before = upstream.polls(sim, task)
    task = run_until(task_id, ENDED)
    assert_completed(task, upstream)
    assert upstream.polls(sim, task) > polls_before  # a fresh poll, then a fresh link
    return task


def deleted_while_running(client: FlaskClient, auth: dict[str, str], sim: Sim, task_id: int) -> Task:
    """Delete a task while the vendor is still working on it, and run the cleanup step: the task as it ran."""
    sim.state.settings.update({"job_seconds": "60"})
    task = run_until(task_id, ("running",))
    assert client.delete(f"/v1/videos/{task.public_id}", headers=auth).status_code == 200
    steps.cleanup(task.id)
    return task
