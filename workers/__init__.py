"""Celery workers: submit jobs upstream, poll them, copy finished videos into storage."""
