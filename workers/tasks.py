"""Celery tasks: thin, idempotent wrappers that hand task ids to their step (state lives in the database)."""
from __future__ import annotations

from app.extensions import celery
from workers import steps
from workers.steps import DOWNLOAD_TIME_LIMIT


@celery.task(name="vidgate.submit_batch")
def submit_batch(task_ids: list[int]) -> None:
    steps.submit(task_ids)


@celery.task(name="vidgate.poll_batch")
def poll_batch(task_ids: list[int]) -> None:
    steps.poll(task_ids)


# Downloads stream whole videos and renew their lease as they go: a longer limit (their own deadline is the
# one every pool applies; this one is prefork's backstop).
@celery.task(name="vidgate.download", time_limit=DOWNLOAD_TIME_LIMIT + 60, soft_time_limit=DOWNLOAD_TIME_LIMIT + 30)
def download(task_id: int) -> None:
    steps.download(task_id)


@celery.task(name="vidgate.cleanup")
def cleanup(task_id: int) -> None:
    steps.cleanup(task_id)


@celery.task(name="vidgate.dispatch")
def dispatch() -> int:
    return steps.dispatch()


@celery.task(name="vidgate.housekeeping")
def housekeeping() -> int:
    return steps.housekeeping()
