"""The task steps against the simulator over real HTTP: lifecycle, guards, retries, caps, cleanup."""
from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from app import lifecycle
from app.channels import ChannelConfig
from app.extensions import celery, db, settings, storage
from app.models import Channel, Task
from config.settings import Settings
from simulators import media
from tests.conftest import Sim, make_settings, prepared_app
from workers import schedule, steps
from workers.vendors import get_adapter, http
from workers.vendors.base import PollResult

Message = tuple[str, object, str]  # Celery task name, its argument, queue


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[Message]:
    """The step messages sent from now on, recorded instead of going to the broker."""
    messages: list[Message] = []
    monkeypatch.setattr(celery, "send_task", lambda name, args, queue, **_: messages.append((name, args[0], queue)))
    return messages


def unsend(*task_ids: int) -> None:
    """As when the web writes a task and leaves its first message to the dispatcher."""
    with db.transaction() as session:
        session.execute(update(Task).where(Task.id.in_(task_ids)).values(sent_at=None))


def create_video(client: FlaskClient, auth: dict[str, str], **body: object) -> int:
    response = client.post("/v1/videos", json={"model": "sora-2", "prompt": "a fox", **body}, headers=auth)
    assert response.status_code == 200, response.json
    return load(response.json["id"]).id


def load(public_id: str | int) -> Task:
    with db.session() as session:
        column = Task.id if isinstance(public_id, int) else Task.public_id
        return session.scalar(select(Task).where(column == public_id))


def make_due(task_id: int) -> None:
    with db.transaction() as session:
        session.execute(update(Task).where(Task.id == task_id).values(next_action_at=time.time(), lease_until=None))


def run_until(task_id: int, states: tuple[str, ...], timeout: float = 30.0) -> Task:
    """Drive the task the way the dispatcher would, without Celery: call whichever step is due.

    The deadline only bounds a failing test (a second or two is usual); it is wide because a CI run on a loaded host
    once left a download short of a 10 s deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = load(task_id)
        if task.state in states:
            return task
        make_due(task_id)
        {"pending": lambda i: steps.submit([i]), "submitting": lambda i: steps.submit([i]),
         "running": lambda i: steps.poll([i]),
         "downloading": steps.download, "cancelled": steps.cleanup}[task.state](task_id)
        time.sleep(0.1)
    task = load(task_id)
    raise AssertionError(f"task stuck in {task.state} (download attempts {task.download_attempts}, "
                         f"polls {task.polls}, error {task.error_code}: {task.error_message})")


def test_a_task_goes_from_submission_to_a_stored_file(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task_id = create_video(client, auth, seconds="4")
    task = run_until(task_id, ("completed", "failed"))
    assert task.state == "completed" and task.progress == 100
    assert task.sha256 == media.video_sha256(task.upstream_id)
    handle, size = storage.open(task.storage_key)
    with handle:
        assert size == task.size_bytes and handle.read(8)[4:8] == b"ftyp"
    stats = sim.state.stats.snapshot(sim.state.jobs, sim.state.clock())["openai"]
    assert stats["submissions"] == 1
    assert task.expires_at == pytest.approx(task.completed_at + 24 * 3600)


def test_duplicate_and_early_messages_do_nothing(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task_id = create_video(client, auth)
    steps.submit([task_id])
    version = load(task_id).version
    steps.submit([task_id])  # a duplicate message: the task is no longer pending
    steps.poll([task_id])  # an early poll: not due yet
    assert load(task_id).version == version
    assert sim.state.stats.snapshot(sim.state.jobs, sim.state.clock())["openai"]["create_requests"] == 1


def test_a_step_is_claimed_once_until_its_lease_runs_out(client: FlaskClient, auth: dict[str, str]) -> None:
    task_id, lease = create_video(client, auth), settings().lease_seconds
    with db.session() as session:
        first = lifecycle.claim(session, task_id, ("pending",), lease)
        assert first is not None and first.lease_until == pytest.approx(time.time() + lease, abs=5)
        assert lifecycle.claim(session, task_id, ("pending",), lease) is None  # held: a duplicate finds nothing
    with db.transaction() as session:  # the worker holding it died; its lease ran out
        session.execute(update(Task).where(Task.id == task_id).values(lease_until=time.time() - 1))
    with db.session() as session:
        assert lifecycle.claim(session, task_id, ("running",), lease) is None  # not in that state
        again = lifecycle.claim(session, task_id, ("pending",), lease)
        assert again is not None and again.version == first.version + 1


def test_rate_limited_submission_backs_off_honouring_retry_after(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    sim.state.faults.add("openai", "create", "rate_limit", retry_after=30)
    task_id = create_video(client, auth)
    before = time.time()
    steps.submit([task_id])
    task = load(task_id)
    assert task.state == "pending" and task.submit_attempts == 1 and task.upstream_id is None
    assert task.next_action_at >= before + 30
    assert run_until(task_id, ("completed",)).state == "completed"


def test_a_submission_that_timed_out_after_acceptance_is_not_duplicated(
    client: FlaskClient, auth: dict[str, str], sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "READ_TIMEOUT", 0.3)
    sim.state.faults.add("openai", "create", "accept_then_timeout", seconds=1)
    task_id = create_video(client, auth)
    steps.submit([task_id])
    assert load(task_id).state == "submitting"  # may have reached the vendor: held, not released
    task = run_until(task_id, ("completed", "failed"))
    stats = sim.state.stats.snapshot(sim.state.jobs, sim.state.clock())["openai"]
    assert task.state == "completed"
    assert stats["submissions"] == 1 and stats["duplicate_creates"] == 1  # same Idempotency-Key, same job


def test_vendor_moderation_failure_fails_with_a_stable_code(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    sim.state.faults.add("openai", "create", "moderation")
    task = run_until(create_video(client, auth), ("completed", "failed"))
    assert task.state == "failed" and task.error_code == "content_policy" and task.error_message


def test_a_cut_download_is_retried_and_never_stored_partially(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    sim.state.faults.add("openai", "content", "truncate")
    task_id = create_video(client, auth)
    task = run_until(task_id, ("downloading",))
    steps.download(task_id)
    task = load(task_id)
    assert task.state == "downloading" and task.download_attempts == 1 and task.storage_key is None
    task = run_until(task_id, ("completed",))
    assert task.sha256 == media.video_sha256(task.upstream_id)


def test_a_download_past_its_time_limit_is_cut_off_and_tried_again(
    client: FlaskClient, auth: dict[str, str], sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = create_video(client, auth)
    run_until(task_id, ("downloading",))
    monkeypatch.setattr(steps, "DOWNLOAD_TIME_LIMIT", -1.0)  # every chunk arrives too late
    steps.download(task_id)
    task = load(task_id)
    assert task.state == "downloading" and task.download_attempts == 1 and task.storage_key is None
    assert task.next_action_at > time.time()
    monkeypatch.setattr(steps, "DOWNLOAD_TIME_LIMIT", 3600.0)
    assert run_until(task_id, ("completed",)).sha256 == media.video_sha256(task.upstream_id)


def test_a_task_past_its_deadline_fails_with_timeout(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    sim.state.settings.update({"job_seconds": "60"})
    task_id = create_video(client, auth)
    run_until(task_id, ("running",))
    with db.transaction() as session:
        session.execute(update(Task).where(Task.id == task_id).values(deadline_at=time.time() - 1))
    task = run_until(task_id, ("failed",))
    assert task.error_code == "timeout"


def test_deleting_a_running_task_cancels_it_upstream(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    sim.state.settings.update({"job_seconds": "60"})
    task_id = create_video(client, auth)
    task = run_until(task_id, ("running",))
    assert client.delete(f"/v1/videos/{task.public_id}", headers=auth).status_code == 200
    steps.cleanup(task_id)
    assert sim.state.jobs.get("openai", task.upstream_id).cancelled
    assert load(task_id).next_action_at is None


def test_dispatch_sends_due_steps_once_until_they_look_lost(client: FlaskClient, auth: dict[str, str]) -> None:
    task_id = create_video(client, auth)
    with db.transaction() as session:  # as if the web's own message was lost long ago
        long_ago = time.time() - 2 * settings().resend_after_seconds
        session.execute(update(Task).where(Task.id == task_id).values(sent_at=long_ago))
    assert steps.dispatch() == 1
    assert steps.dispatch() == 0  # just sent: not again until resend_after_seconds pass
    assert load(task_id).sent_at == pytest.approx(time.time(), abs=5)


def test_a_submission_is_served_after_the_other_steps_waiting_in_its_queue(
    tmp_path: Path, sim: Sim, redis_url: str
) -> None:
    prepared_app(make_settings(tmp_path / "instance", sim.url, REDIS_URL=redis_url))
    lifecycle.send_step("pending", "openai", [1])  # a burst of creates got there first
    lifecycle.send_step("downloading", "openai", [2])
    lifecycle.send_step("running", "openai", [3, 4])
    with celery.connection_for_read() as connection:
        queue = connection.SimpleQueue("openai")
        served = [queue.get(timeout=5) for _ in range(3)]
        for message in served:
            message.ack()
        queue.close()
    assert [message.headers["task"] for message in served] == [
        "vidgate.download", "vidgate.poll_batch", "vidgate.submit_batch"]


def running_tasks(client: FlaskClient, auth: dict[str, str], count: int,
                  create: Callable[[FlaskClient, dict[str, str]], int] = create_video) -> list[int]:
    """`count` tasks the vendor accepted (created by `create`: an OpenAI video unless said), due for their first
    poll."""
    ids = [create(client, auth) for _ in range(count)]
    for task_id in ids:
        steps.submit([task_id])
        make_due(task_id)
    return ids


def sim_polls(sim: Sim) -> int:
    return sim.state.stats.snapshot(sim.state.jobs, sim.state.clock())["openai"]["polls_total"]


def test_the_dispatcher_sends_due_polls_in_batches_per_vendor(tmp_path: Path, sim: Sim,
                                                               sent: list[Message]) -> None:
    from tests.conftest import new_token

    app = prepared_app(make_settings(tmp_path / "instance", sim.url, VIDGATE_POLL_BATCH="2"))
    client, auth = app.test_client(), {"Authorization": f"Bearer {new_token()}"}
    sim.state.settings.update({"job_seconds": "60"})
    ids = running_tasks(client, auth, 5)
    sent.clear()
    assert steps.dispatch() == 5
    assert sent == [("vidgate.poll_batch", batch, "openai") for batch in (ids[:2], ids[2:4], ids[4:])]


def test_a_poll_batch_records_every_task_and_its_duplicate_does_nothing(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    sim.state.settings.update({"job_seconds": "60"})
    ids = running_tasks(client, auth, 3)
    steps.poll(ids)
    tasks = [load(i) for i in ids]
    assert all(t.state == "running" and t.polls == 1 and t.lease_until is None for t in tasks)
    assert all(t.next_action_at >= time.time() + schedule.MIN_POLL - 1 for t in tasks)
    steps.poll(ids)  # the same message again (or a late one): nothing is due
    assert [load(i).version for i in ids] == [t.version for t in tasks] and sim_polls(sim) == 3


def test_a_poll_batch_hands_finished_jobs_to_their_download(
    client: FlaskClient, auth: dict[str, str], sim: Sim, sent: list[Message]
) -> None:
    ids = running_tasks(client, auth, 2)
    time.sleep(0.6)  # the simulator's jobs last 0.5 s
    sent.clear()
    steps.poll(ids)
    assert [load(i).state for i in ids] == ["downloading", "downloading"]
    assert sent == [("vidgate.download", i, "openai") for i in ids]


def before_polling(monkeypatch: pytest.MonkeyPatch, upstream_id: str | None, act: Callable[[], None]) -> None:
    """Run `act` when the OpenAI adapter is asked about `upstream_id`, then ask the vendor as usual."""
    adapter = get_adapter("openai")
    real_poll = adapter.poll

    def poll(channel: ChannelConfig, asked: str) -> PollResult:
        if asked == upstream_id:
            act()
        return real_poll(channel, asked)

    monkeypatch.setattr(adapter, "poll", poll)


def test_a_task_deleted_while_its_batch_polls_stays_deleted(
    client: FlaskClient, auth: dict[str, str], sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.state.settings.update({"job_seconds": "60"})
    ids = running_tasks(client, auth, 3)
    victim = load(ids[1])

    def delete_it() -> None:  # the client deletes it while the vendor is asked
        assert client.delete(f"/v1/videos/{victim.public_id}", headers=auth).status_code == 200

    before_polling(monkeypatch, victim.upstream_id, delete_it)
    steps.poll(ids)
    deleted = load(victim.id)
    assert (deleted.state, deleted.polls, deleted.next_action_at is not None) == ("cancelled", 0, True)
    assert [(load(i).state, load(i).polls) for i in (ids[0], ids[2])] == [("running", 1)] * 2
    steps.cleanup(victim.id)
    assert sim.state.jobs.get("openai", victim.upstream_id).cancelled


def test_a_vendor_call_that_raises_does_not_sink_its_batch(
    client: FlaskClient, auth: dict[str, str], sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.state.settings.update({"job_seconds": "60"})
    ids = running_tasks(client, auth, 3)
    broken = load(ids[0])

    def adapter_bug() -> None:  # met by this task's answer only
        raise KeyError("status")

    before_polling(monkeypatch, broken.upstream_id, adapter_bug)
    steps.poll(ids)
    task = load(broken.id)
    assert (task.state, task.polls, task.lease_until) == ("running", 1, None)
    assert task.next_action_at >= time.time() + schedule.MAX_POLL - 2  # tried again later, like a vendor error
    assert [(load(i).state, load(i).polls) for i in ids[1:]] == [("running", 1)] * 2


def test_a_batch_out_of_time_puts_back_the_tasks_it_did_not_ask(
    client: FlaskClient, auth: dict[str, str], sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.state.settings.update({"job_seconds": "60"})
    ids = running_tasks(client, auth, 3)
    monkeypatch.setattr(http, "READ_TIMEOUT", 10_000.0)  # a call could outlast the step: none past the first second
    adapter, real_poll = get_adapter("openai"), get_adapter("openai").poll

    def slow_poll(channel: ChannelConfig, upstream_id: str) -> PollResult:
        time.sleep(1.2)
        return real_poll(channel, upstream_id)

    monkeypatch.setattr(adapter, "poll", slow_poll)
    with ThreadPoolExecutor(1) as one_thread:
        monkeypatch.setattr(steps, "_vendor_threads", one_thread)
        steps.poll(ids)
    asked, *left = [load(i) for i in ids]
    assert asked.polls == 1 and sim_polls(sim) == 1
    assert all(t.polls == 0 and t.lease_until is None and t.next_action_at <= time.time() for t in left)


def test_a_task_deleted_while_it_is_submitted_stays_deleted_and_its_job_is_cancelled(
    client: FlaskClient, auth: dict[str, str], sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.state.settings.update({"job_seconds": "60"})
    task_id = create_video(client, auth)
    public_id, created = load(task_id).public_id, []
    adapter, real_submit = get_adapter("openai"), get_adapter("openai").submit

    def submit(*args: object) -> str:
        created.append(real_submit(*args))
        assert client.delete(f"/v1/videos/{public_id}", headers=auth).status_code == 200
        return created[0]

    monkeypatch.setattr(adapter, "submit", submit)
    steps.submit([task_id])
    assert load(task_id).state == "cancelled"  # not overwritten by the step that took the slot
    assert sim.state.jobs.get("openai", created[0]).cancelled


def test_submissions_go_in_batches_and_a_batch_hands_every_task_over(
    client: FlaskClient, auth: dict[str, str], sim: Sim, sent: list[Message]
) -> None:
    sim.state.settings.update({"job_seconds": "60"})
    ids = [create_video(client, auth) for _ in range(steps.SUBMIT_BATCH + 2)]
    unsend(*ids)
    sent.clear()
    assert steps.dispatch() == len(ids)
    batches = [argument for _name, argument, _queue in sent]
    assert batches == [ids[:steps.SUBMIT_BATCH], ids[steps.SUBMIT_BATCH:]]
    steps.submit(batches[0])
    tasks = [load(i) for i in batches[0]]
    assert all(t.state == "running" and t.submit_attempts == 1 and t.lease_until is None for t in tasks)
    assert len({t.upstream_id for t in tasks}) == len(tasks)  # a job each
    assert [load(i).state for i in batches[1]] == ["pending"] * 2
    steps.submit(batches[0])  # the same message again: nothing is due
    stats = sim.state.stats.snapshot(sim.state.jobs, sim.state.clock())["openai"]
    assert stats["create_requests"] == stats["submissions"] == len(tasks)


def test_a_submission_batch_takes_only_the_free_slots_of_a_capped_channel(capped_app: Flask, sim: Sim) -> None:
    from tests.conftest import new_token

    client, auth = capped_app.test_client(), {"Authorization": f"Bearer {new_token()}"}
    sim.state.settings.update({"job_seconds": "60"})
    ids = [create_video(client, auth) for _ in range(3)]
    steps.submit(list(reversed(ids)))  # the oldest takes the one slot, whatever the message's order
    first, *waiting = [load(i) for i in ids]
    assert (first.state, first.submit_attempts) == ("running", 1)
    assert all((t.state, t.submit_attempts, t.lease_until) == ("pending", 0, None) for t in waiting)
    assert all(t.next_action_at == pytest.approx(time.time() + schedule.CAP_WAIT, abs=2) for t in waiting)
    assert sim.state.stats.snapshot(sim.state.jobs, sim.state.clock())["openai"]["create_requests"] == 1


def test_tasks_whose_channel_is_not_configured_wait_without_holding_up_their_batch(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    sim.state.settings.update({"job_seconds": "60"})
    ids = [create_video(client, auth) for _ in range(3)]
    with db.transaction() as session:  # a channel taken out of the channel file keeps its row
        gone = Channel(name="gone", vendor="openai", enabled=True, updated_at=time.time())
        session.add(gone)
        session.flush()
        session.execute(update(Task).where(Task.id == ids[0]).values(channel_id=gone.id))
        session.execute(update(Task).where(Task.id == ids[1]).values(channel_id=None))
    steps.submit(ids)
    *orphans, other = [load(i) for i in ids]
    assert all((t.state, t.submit_attempts, t.lease_until) == ("pending", 0, None) for t in orphans)
    assert all(t.next_action_at == pytest.approx(time.time() + schedule.CAP_WAIT, abs=2) for t in orphans)
    assert other.state == "running"


def test_a_submission_that_raises_does_not_sink_its_batch(
    client: FlaskClient, auth: dict[str, str], sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [create_video(client, auth) for _ in range(3)]
    broken = load(ids[0]).submit_key
    adapter, real_submit = get_adapter("openai"), get_adapter("openai").submit

    def submit(channel: ChannelConfig, request: object, model: object, submit_key: str) -> str:
        upstream_id = real_submit(channel, request, model, submit_key)
        if submit_key == broken:
            raise KeyError("id")  # an adapter bug met after the vendor took the job
        return upstream_id

    monkeypatch.setattr(adapter, "submit", submit)
    steps.submit(ids)
    task = load(ids[0])
    # Held as a submission whose answer was lost: retried with the same key, so the vendor's job is found again.
    assert (task.state, task.upstream_id, task.lease_until) == ("submitting", None, None)
    assert task.next_action_at > time.time()
    assert [load(i).state for i in ids[1:]] == ["running", "running"]
    monkeypatch.setattr(adapter, "submit", real_submit)
    assert run_until(ids[0], ("completed", "failed")).state == "completed"
    stats = sim.state.stats.snapshot(sim.state.jobs, sim.state.clock())["openai"]
    assert stats["submissions"] == 3 and stats["duplicate_creates"] == 1


def test_a_submission_batch_out_of_time_gives_back_the_slots_it_did_not_use(
    client: FlaskClient, auth: dict[str, str], sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [create_video(client, auth) for _ in range(3)]
    monkeypatch.setattr(http, "READ_TIMEOUT", 10_000.0)  # a call could outlast the step: none past the first second
    adapter, real_submit = get_adapter("openai"), get_adapter("openai").submit

    def slow_submit(*args: object) -> str:
        time.sleep(1.2)
        return real_submit(*args)

    monkeypatch.setattr(adapter, "submit", slow_submit)
    with ThreadPoolExecutor(1) as one_thread:
        monkeypatch.setattr(steps, "_vendor_threads", one_thread)
        steps.submit(ids)
    sent_one, *left = [load(i) for i in ids]
    assert sent_one.state == "running"
    assert all((t.state, t.submit_attempts, t.lease_until) == ("pending", 0, None) for t in left)
    assert all(t.next_action_at <= time.time() for t in left)
    assert sim.state.stats.snapshot(sim.state.jobs, sim.state.clock())["openai"]["create_requests"] == 1


def test_housekeeping_expires_files(client: FlaskClient, auth: dict[str, str]) -> None:
    task = run_until(create_video(client, auth), ("completed",))
    with db.transaction() as session:
        session.execute(update(Task).where(Task.id == task.id).values(expires_at=time.time() - 1))
    assert steps.housekeeping() == 1
    assert not storage.exists(task.storage_key)
    response = client.get(f"/v1/videos/{task.public_id}/content", headers=auth)
    assert response.status_code == 404 and response.json["error"]["code"] == "video_expired"


@pytest.fixture
def capped_app(tmp_path: Path, sim: Sim) -> Flask:
    channels = tmp_path / "channels.toml"
    channels.write_text(f"""
[[channels]]
name = "small"
vendor = "openai"
base_url = "{sim.url}/openai/v1"
api_key = "sk-sim-openai"
max_concurrency = 1
models = {{ "sora-2" = "sora-2" }}
""")
    settings: Settings = make_settings(tmp_path / "instance", sim.url, VIDGATE_CHANNELS=str(channels))
    return prepared_app(settings)


def test_the_dispatcher_sends_a_capped_channel_only_its_free_slots(capped_app: Flask, sim: Sim,
                                                                   sent: list[Message]) -> None:
    from tests.conftest import new_token

    client, auth = capped_app.test_client(), {"Authorization": f"Bearer {new_token()}"}
    sim.state.settings.update({"job_seconds": "1"})
    first, second = create_video(client, auth), create_video(client, auth)
    unsend(first, second)
    sent.clear()
    assert steps.dispatch() == 1 and sent == [("vidgate.submit_batch", [first], "openai")]  # the oldest, one slot
    assert steps.dispatch() == 0  # the slot is spoken for by the message already sent
    steps.submit([first])
    assert steps.dispatch() == 0 and load(second).state == "pending"  # taken: the waiter costs no message
    run_until(first, ("completed",))
    assert steps.dispatch() == 1 and sent[-1] == ("vidgate.submit_batch", [second], "openai")  # the slot came free
    assert run_until(second, ("completed",)).state == "completed"
    assert sim.state.stats.snapshot(sim.state.jobs, sim.state.clock())["openai"]["max_in_flight"] == 1


def test_a_worker_finding_no_slot_puts_the_task_back_for_later(capped_app: Flask, sim: Sim) -> None:
    from tests.conftest import new_token

    client, auth = capped_app.test_client(), {"Authorization": f"Bearer {new_token()}"}
    sim.state.settings.update({"job_seconds": "60"})
    first, second = create_video(client, auth), create_video(client, auth)
    steps.submit([first])
    steps.submit([second])  # sent anyway (two dispatchers overlapping): the cap holds
    task = load(second)
    assert (load(first).state, task.state, task.lease_until) == ("running", "pending", None)
    assert task.next_action_at == pytest.approx(time.time() + schedule.CAP_WAIT, abs=2)


def test_the_dispatcher_keeps_a_bounded_backlog_of_submissions_per_vendor(
    tmp_path: Path, sim: Sim, sent: list[Message]
) -> None:
    from tests.conftest import new_token

    app = prepared_app(make_settings(tmp_path / "instance", sim.url, VIDGATE_SUBMIT_BACKLOG="2"))
    client, auth = app.test_client(), {"Authorization": f"Bearer {new_token()}"}
    ids = [create_video(client, auth) for _ in range(5)]
    unsend(*ids)
    sent.clear()
    assert steps.dispatch() == 2 and [m[1] for m in sent] == [ids[:2]]  # oldest first, in one message
    assert steps.dispatch() == 0
    steps.submit([ids[0]])  # one message taken off the queue: room for one more
    assert steps.dispatch() == 1 and sent[-1][1] == [ids[2]]


def test_remix_runs_on_the_source_channel_and_names_its_source(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    source = run_until(create_video(client, auth, seconds="8"), ("completed",))
    response = client.post(f"/v1/videos/{source.public_id}/remix", json={"prompt": "now at night"}, headers=auth)
    assert response.status_code == 200 and response.json["remixed_from_video_id"] == source.public_id
    remix = run_until(load(response.json["id"]).id, ("completed",))
    upstream = sim.state.jobs.get("openai", remix.upstream_id)
    assert upstream.prompt == "now at night" and remix.channel_id == source.channel_id
    assert remix.sha256 == media.video_sha256(remix.upstream_id)


@pytest.fixture
def two_channels_app(tmp_path: Path, sim: Sim) -> Flask:
    channels = tmp_path / "channels.toml"
    channels.write_text("".join(f"""
[[channels]]
name = "{name}"
vendor = "openai"
base_url = "{sim.url}/openai/v1"
api_key = "sk-sim-openai"
priority = {priority}
models = {{ "sora-2" = "sora-2" }}
""" for name, priority in (("primary", 10), ("secondary", 0))))
    return prepared_app(make_settings(tmp_path / "instance", sim.url, VIDGATE_CHANNELS=str(channels)))


def test_a_refused_submission_fails_over_to_the_next_channel_at_once(two_channels_app: Flask, sim: Sim) -> None:
    from app.extensions import channels
    from tests.conftest import new_token

    client, auth = two_channels_app.test_client(), {"Authorization": f"Bearer {new_token()}"}
    primary, secondary = (next(c for c in channels.all if c.name == n) for n in ("primary", "secondary"))
    sim.state.faults.add("openai", "create", "unavailable")
    task_id = create_video(client, auth)
    assert load(task_id).channel_id == primary.id  # priority decides the first choice
    steps.submit([task_id])
    task = load(task_id)
    assert task.state == "pending" and task.channel_id == secondary.id
    assert task.next_action_at <= time.time()  # another channel is tried at once, no backoff
    assert run_until(task_id, ("completed",)).channel_id == secondary.id
