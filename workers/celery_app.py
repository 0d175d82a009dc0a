"""Entry point for `celery -A workers.celery_app worker|beat`: settings, logging, then the tasks."""
from __future__ import annotations

from celery.signals import setup_logging, worker_process_shutdown

from app.extensions import celery, channels, init_extensions
from app.logs import configure_logging, flush_logs
from workers.vendors import http

settings = init_extensions()
http.configure(settings.vendor_read_timeout, settings.download_read_timeout)


@setup_logging.connect
def _logging(**_kwargs: object) -> None:
    """Celery's plain-text logging replaced by ours: JSON lines, secrets masked."""
    configure_logging(settings.log_level, channels.secrets)


@worker_process_shutdown.connect
def _flush_logs(**_kwargs: object) -> None:
    """A prefork pool's child ends with os._exit, which skips atexit: write its last lines first."""
    flush_logs()


import workers.tasks  # noqa: E402,F401  (registers the tasks on `celery`)

app = celery
