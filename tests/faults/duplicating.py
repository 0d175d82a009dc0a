"""Test-only: makes every Celery message this process sends arrive twice (scenario 5 of the fault suite)."""
from __future__ import annotations

from typing import Any

from app.extensions import celery

_send_task = celery.send_task


def _send_twice(*args: Any, **kwargs: Any) -> Any:
    _send_task(*args, **kwargs)
    return _send_task(*args, **kwargs)


celery.send_task = _send_twice  # type: ignore[method-assign]
