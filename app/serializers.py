"""Tasks as the objects each dialect returns."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Protocol

from flask import request
from werkzeug.wsgi import get_host

from app.db import COMPUTED, column_default
from app.extensions import settings
from app.lifecycle import ACTIVE, COMPLETED, FAILED, public_status
from app.models import Task, now

MIN_POLL_MS, MAX_POLL_MS = 1000, 10_000


class TaskView(Protocol):
    """What a response is made of: a Task, or a row of VIEW_COLUMNS read without the ORM."""

    public_id: str
    model: str
    state: str
    upstream_status: str | None
    progress: int
    request: dict[str, Any]
    client_metadata: dict[str, Any] | None
    remixed_from: str | None
    client_reference: str | None
    error_code: str | None
    error_message: str | None
    created_at: float
    updated_at: float
    completed_at: float | None
    expires_at: float | None
    next_action_at: float | None
    storage_key: str | None
    content_type: str | None
    sha256: str | None


# The columns of TaskView: every status read, /content and every create answer need only these. Labelled
# with the attribute names, since a row is keyed by column name (`client_metadata` is the column `metadata`).
VIEW_COLUMNS = tuple(getattr(Task, name).label(name) for name in TaskView.__annotations__)


# (attribute, table column, its default) of each column of the view, for a view made from the values a row was
# inserted with. A computed default (a timestamp) is known only to the INSERT: such a column must be given.
_VIEW_SOURCES = [(label.name, label.element.name, column_default(label.element)) for label in VIEW_COLUMNS]


def inserted_view(values: dict[str, Any]) -> TaskView:
    """The view of a row just inserted with `values` (by column name), the columns not given at their defaults:
    what reading the row back would give, without the database sending it and SQLAlchemy decoding it."""
    view = {name: values.get(column, default) for name, column, default in _VIEW_SOURCES}
    if COMPUTED in view.values():
        raise ValueError("a column with a computed default was not given")
    return SimpleNamespace(**view)  # type: ignore[return-value]  # has every attribute of TaskView


def _seconds(value: float | None) -> int | None:
    return int(value) if value is not None else None


def base_url(environ: dict[str, Any] | None = None) -> str:
    """Where clients reach us: the configured public URL, else the scheme and host of the request (of `environ` for
    one answered before Flask made a request of it: app.answers; werkzeug's `get_host` is what Flask's host is)."""
    public = settings().public_base_url
    if public:
        return public
    # Not request.host_url: it also decodes the host into an IRI, a cost on every status read, and a URL handed to
    # clients wants the host as it came (ASCII) anyway.
    if environ is None:
        return f"{request.scheme}://{request.host}"
    return f"{environ['wsgi.url_scheme']}://{get_host(environ)}"


def content_url(task: TaskView) -> str:
    return f"{base_url()}/v1/videos/{task.public_id}/content"


def video_object(task: TaskView) -> dict[str, Any]:
    """The OpenAI Video object; `task_id` is its legacy alias and `url` appears once completed.

    Built in VideoSchema's shape (its fields, in its order), as every object here is in its schema's, so the
    routes can answer it as it is instead of having flask-smorest dump it again (tests/app/test_serializers.py).
    """
    req = task.request
    status = public_status(task)
    body: dict[str, Any] = {
        "id": task.public_id,
        "task_id": task.public_id,
        "object": "video",
        "model": task.model,
        "status": status,
        "progress": 100 if task.state == COMPLETED else min(task.progress, 99),
        "created_at": int(task.created_at),
        "completed_at": _seconds(task.completed_at),
        "expires_at": _seconds(task.expires_at),
        "seconds": str(req["seconds"]) if req.get("seconds") else None,
        "size": f"{req['width']}x{req['height']}" if req.get("width") else req.get("aspect_ratio"),
        "prompt": req.get("prompt"),
        "remixed_from_video_id": task.remixed_from,
        "error": {"code": task.error_code or "upstream_error", "message": task.error_message or ""}
        if task.state == FAILED else None,
        "metadata": task.client_metadata,
    }
    if task.state == COMPLETED:
        body["url"] = content_url(task)
    return body


def generation_object(task: TaskView) -> dict[str, Any]:
    """The unified dialect's task: the Video object plus `format` once there is a file."""
    body = video_object(task)
    if task.state == COMPLETED:
        body["format"] = "mp4"
    return body


def poll_after_ms(task: TaskView) -> int:
    """How long a client should wait before reading the task again: about when our next poll lands."""
    if task.state not in ACTIVE or task.next_action_at is None:
        return MAX_POLL_MS
    wait_ms = (task.next_action_at - now()) * 1000 + 500
    return int(min(MAX_POLL_MS, max(MIN_POLL_MS, wait_ms)))
