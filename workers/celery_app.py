"""Entry point for `celery -A workers.celery_app worker|beat`: settings, logging, then the tasks."""
from __future__ import annotations

from celery.signals import setup_logging

from app.extensions import celery, channels, init_extensions
from app.logs import configure_logging
from workers.vendors import http

settings = init_extensions()
http.configure(settings.vendor_read_timeout, settings.download_read_timeout)


@setup_logging.connect
def _logging(**_kwargs: object) -> None:
    """Celery's plain-text logging replaced by ours: JSON lines, secrets masked."""
    configure_logging(settings.log_level, channels.secrets)


import workers.tasks  # noqa: E402,F401  (registers the tasks on `celery`)

app = celery
