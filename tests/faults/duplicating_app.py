"""Celery entry point for the duplicate-delivery scenario: the real app, sending everything twice."""
import tests.faults.duplicating  # noqa: F401  (patches before any task is sent)
from workers.celery_app import app  # noqa: F401
