"""Celery tasks: thin, idempotent wrappers that hand task ids to their step (state lives in the database)."""
from __future__ import annotations

from app.extensions import celery
from workers import steps

# Downloads stream whole videos; they renew their lease as they go and get a longer time limit.
DOWNLOAD_TIME_LIMIT = 3600


@celery.task(name="vidgate.submit")
def submit(task_id: int) -> None:
    steps.submit(task_id)


@celery.task(name="vidgate.poll_batch")
def poll_batch(task_ids: list[int]) -> None:
    steps.poll(task_ids)


@celery.task(name="vidgate.download", time_limit=DOWNLOAD_TIME_LIMIT + 60, soft_time_limit=DOWNLOAD_TIME_LIMIT)
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
