"""Celery settings: the reliability rules of SPEC section 6, the queues and the beat schedule."""
from __future__ import annotations

from celery import Celery
from kombu import Queue

from config.settings import Settings
from workers.vendors import VENDORS

MAINTENANCE_QUEUE = "maintenance"


def configure_celery(celery: Celery, settings: Settings) -> None:
    if celery.conf.broker_url not in (None, settings.broker_url):
        # Re-initialised with another broker (tests do, once per test): drop the pooled connections,
        # or messages keep flowing to the old broker. Celery has no public call for this.
        celery._pool = None
        celery.amqp._producer_pool = None
    celery.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        # Brokers lose messages and workers die: the database is the truth and messages carry ids only.
        task_acks_late=True,
        task_reject_on_worker_lost=True,  # safe: every step is idempotent and guarded by the row
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        # Steps end before their lease does (see Settings.lease_seconds); downloads renew theirs. Only the
        # prefork pool enforces these limits; under the Procfile's thread pool the steps' own clocks do.
        task_soft_time_limit=settings.step_time_limit,
        task_time_limit=settings.lease_seconds * 0.9,
        # No countdown messages are sent at all (see the dispatcher), so this only bounds how long a
        # message taken by a worker that vanished waits before Redis hands it out again.
        # kombu's SQLAlchemy transport hands its options to create_engine, so only Redis gets them.
        broker_transport_options={} if settings.is_embedded else {"visibility_timeout": 3600},
        task_queues=[Queue(v) for v in VENDORS] + [Queue(MAINTENANCE_QUEUE)],
        task_default_queue=MAINTENANCE_QUEUE,
        worker_hijack_root_logger=False,
        # Celery 6's default, taken now: a task running when the broker connection drops is redelivered
        # (steps are idempotent, so that is safe) instead of finishing unacknowledgeable.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        beat_schedule={
            # The dispatcher is the scheduler: steps wait in the table (next_action_at), not in the broker
            # as countdown messages, so nothing long-lived sits in worker memory or Redis.
            "dispatch": {"task": "vidgate.dispatch", "schedule": settings.dispatch_seconds,
                         "options": {"queue": MAINTENANCE_QUEUE, "expires": max(5.0, settings.dispatch_seconds * 5)}},
            "housekeeping": {"task": "vidgate.housekeeping", "schedule": settings.housekeeping_seconds,
                             "options": {"queue": MAINTENANCE_QUEUE}},
        },
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
    )
