"""Finished tasks kept by each web process: read once, dropped everywhere on a delete, never kept unheard."""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import redis
from flask import Flask

from app.extensions import finished_tasks
from app.finished import FinishedTasks
from app.ratelimit import fail_fast_client
from tests.app.conftest import created, eventually, listening
from tests.conftest import new_token


def row(state: str = "completed") -> SimpleNamespace:
    return SimpleNamespace(state=state, public_id="video_a")


@pytest.fixture
def two_processes(redis_url: str) -> Iterator[tuple[FinishedTasks, FinishedTasks]]:
    """Two web processes' caches on the same Redis."""
    first, second = FinishedTasks(), FinishedTasks()
    first.init(redis.Redis.from_url(redis_url, client_name="vidgate-test-first", socket_timeout=1), 100)
    second.init(fail_fast_client(redis_url), 100)
    yield listening(first), listening(second)
    first.init(None, 0)  # their listeners stop
    second.init(None, 0)


def test_a_delete_in_one_process_drops_the_row_in_the_others(two_processes: tuple[FinishedTasks, FinishedTasks]
                                                             ) -> None:
    first, second = two_processes
    kept = row()
    first.keep("video_a", 7, kept, first.generation)
    assert first.get("video_a", 7) is kept
    assert first.get("video_a", 8) is None  # another account's id is not found, kept or not
    second.deleted("video_a")
    eventually(lambda: first.get("video_a", 7) is None)


def test_a_row_read_while_a_delete_was_heard_is_not_kept(two_processes: tuple[FinishedTasks, FinishedTasks]) -> None:
    first, second = two_processes
    before_the_read = first.generation
    second.deleted("video_other")  # any delete: the row may predate it
    eventually(lambda: first.generation != before_the_read)
    first.keep("video_a", 7, row(), before_the_read)
    assert first.get("video_a", 7) is None
    first.keep("video_a", 7, row(), first.generation)
    assert first.get("video_a", 7) is not None


def test_a_lost_subscription_empties_the_cache_until_subscribed_again(
        two_processes: tuple[FinishedTasks, FinishedTasks], redis_url: str) -> None:
    first, _ = two_processes
    first.keep("video_a", 7, row(), first.generation)
    admin = redis.Redis.from_url(redis_url)
    for connection in admin.client_list(_type="pubsub"):  # only the first cache's subscription
        if connection["name"] == "vidgate-test-first":
            admin.client_kill_filter(_id=connection["id"])
    eventually(lambda: not first.listening)
    assert first.get("video_a", 7) is None
    first.keep("video_a", 7, row(), first.generation)
    assert first.get("video_a", 7) is None  # deletes could pass unheard: nothing is kept
    eventually(lambda: first.listening)
    first.keep("video_a", 7, row(), first.generation)
    assert first.get("video_a", 7) is not None


def listener_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records
            if record.name == "vidgate.finished" and record.threadName == "vidgate-deletes"]


def test_without_redis_nothing_is_kept(caplog: pytest.LogCaptureFixture) -> None:
    unreachable, embedded = FinishedTasks(), FinishedTasks()
    unreachable.init(fail_fast_client("redis://127.0.0.1:1/0"), 100)
    embedded.init(None, 100)
    for cache in (unreachable, embedded):
        cache.get("video_a", 7)
        cache.keep("video_a", 7, row(), cache.generation)
        assert cache.get("video_a", 7) is None
        cache.deleted("video_a")  # nobody to tell; must not raise
    eventually(lambda: bool(listener_warnings(caplog)))
    unreachable.init(None, 0)
    # Said every few seconds while Redis is down: one line with the reason, no traceback.
    warning = listener_warnings(caplog)[0]
    assert "127.0.0.1:1" in warning.getMessage() and warning.exc_info is None


def reads_of_tasks(statements: list[tuple[str, bool]]) -> int:
    return sum(1 for statement, _ in statements
               if statement.lstrip().startswith("SELECT") and "FROM tasks" in statement)


def test_a_finished_task_is_read_once_and_an_active_one_every_time(cached_app: Flask,
                                                                   statements: list[tuple[str, bool]]) -> None:
    client, auth = cached_app.test_client(), {"Authorization": f"Bearer {new_token()}"}
    listening(finished_tasks)
    done, running = created(cached_app, auth, "completed"), created(cached_app, auth, "running")
    statements.clear()
    answers = [client.get(f"/v1/videos/{done}", headers=auth).json for _ in range(3)]
    assert reads_of_tasks(statements) == 1
    assert answers[0] == answers[2] and answers[0]["status"] == "completed" and answers[0]["url"]
    for _ in range(2):
        assert client.get(f"/v1/videos/{running}", headers=auth).json["status"] == "in_progress"
    assert reads_of_tasks(statements) == 3
    stranger = {"Authorization": f"Bearer {new_token('someone-else')}"}
    assert client.get(f"/v1/videos/{done}", headers=stranger).status_code == 404


def test_a_deleted_task_is_not_found_at_once_though_it_was_kept(cached_app: Flask) -> None:
    client, auth = cached_app.test_client(), {"Authorization": f"Bearer {new_token()}"}
    listening(finished_tasks)
    done = created(cached_app, auth, "completed")
    for _ in range(2):
        assert client.get(f"/v1/videos/{done}", headers=auth).status_code == 200
    assert client.delete(f"/v1/videos/{done}", headers=auth).status_code == 200
    for path in (f"/v1/videos/{done}", f"/v1/videos/{done}/content", f"/v1/video/generations/{done}"):
        assert client.get(path, headers=auth).status_code == 404, path


def test_a_forked_process_starts_empty_with_a_listener_of_its_own(
        two_processes: tuple[FinishedTasks, FinishedTasks]) -> None:
    first, _ = two_processes
    first.keep("video_a", 7, row(), first.generation)
    child = os.fork()
    if child == 0:  # the child (gunicorn --preload forks its workers after the app was made)
        inherited = first.get("video_a", 7)
        deadline = time.monotonic() + 30
        while not first.listening and time.monotonic() < deadline:
            time.sleep(0.01)
        os._exit(0 if inherited is None and first.listening else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert first.get("video_a", 7) is not None  # the parent's own rows are untouched
