"""HTTP routes, one module per dialect, and the request-scoped helpers they share."""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app import lifecycle
from app.access import note_task
from app.auth import Caller, authenticate
from app.db import DriverSelect
from app.errors import ApiError, not_found
from app.extensions import db, finished_tasks, rate_limiter
from app.models import Task
from app.schemas import ErrorEnvelopeSchema
from app.serializers import VIEW_COLUMNS, TaskView
from app.submission import IDEMPOTENCY_HEADER, MAX_IDEMPOTENCY_KEY

# The create routes' optional header, in the OpenAPI document (app.submission reads it).
IDEMPOTENCY_KEY = {"in": "header", "name": IDEMPOTENCY_HEADER, "required": False,
                   "schema": {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY},
                   "description": "The same key and body return the same task; the key with another body is a 409."}


def document_errors(blueprint: Blueprint, *statuses: int, schema: type[Schema] = ErrorEnvelopeSchema
                    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the error responses of a route in the OpenAPI document, in its dialect's envelope.

    flask-smorest's alt_response also wraps the view, once per status, in a function that costs a little on
    every request and does nothing else; only the documentation they build is kept, on the view itself.
    """

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        documented = view
        for status in statuses:
            documented = blueprint.alt_response(status, schema=schema, description="error envelope")(documented)
        view._apidoc = documented._apidoc  # type: ignore[attr-defined]  # where flask-smorest reads the doc
        return view

    return decorate


_PUBLIC_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def session() -> Session:
    """One session per request, closed at teardown (see app.register_teardown)."""
    if "db_session" not in g:
        g.db_session = db.session()
    return g.db_session


def caller() -> Caller:
    """The authenticated caller, within its token's rate limit (429 with Retry-After beyond it)."""
    if "caller" in g:
        return g.caller
    return within_limit(authenticate())


def within_limit(who: Caller) -> Caller:
    """The caller, counted against its token's rate limit (429 with Retry-After beyond it)."""
    wait = rate_limiter.hit(str(who.token_id))
    if wait is not None:
        raise ApiError(429, "Rate limit reached for this token; retry after the indicated time.",
                       code="rate_limit_exceeded", headers={"Retry-After": str(math.ceil(wait))})
    return who


# A task is looked up by its public id alone and its owner checked here, not in the WHERE clause: with
# `account_id = ?` there too, PostgreSQL may plan the read on an index that starts with account_id while the
# table has no statistics yet (a new deployment, before autovacuum's first ANALYZE; the costs tie), and walk every
# task of the caller's account instead of one entry of the public_id key.
VIEW_BY_PUBLIC_ID = select(*VIEW_COLUMNS, Task.account_id, Task.deleted_at).where(
    Task.public_id == bindparam("public_id"))
# Run on the driver: the status read of every queued and running task, which clients poll every few seconds.
_view_by_public_id = DriverSelect(VIEW_BY_PUBLIC_ID)


def is_callers(task: Any, account_id: int) -> bool:
    """Whether a task row found by its public id is the caller's and live (anyone else's is simply not found)."""
    return task is not None and task.account_id == account_id and task.deleted_at is None


def owned_task(public_id: str, what: str = "video") -> Task:
    """The caller's live task with that id, to change it; anyone else's, or a deleted one, is simply not found."""
    _check_id(public_id, what)
    task = session().scalar(select(Task).where(Task.public_id == public_id))  # owner checked below (see above)
    if not is_callers(task, caller().account_id):
        raise not_found(what, f"{what}_not_found")
    note_task(task.public_id)
    return task


def task_view(public_id: str, what: str = "video") -> TaskView:
    """`owned_task` for reading: a finished task as this process keeps it (app.finished), else the columns a
    response needs in one statement on an autocommit connection (no BEGIN, no ROLLBACK at teardown), run on the
    driver without the ORM's identity map and object loading or SQLAlchemy's result machinery."""
    _check_id(public_id, what)
    account_id = caller().account_id
    row = finished_tasks.get(public_id, account_id)
    if row is None:
        generation = finished_tasks.generation  # before the read: a delete heard during it voids the row
        row = _view_by_public_id.first(db.autocommit_engine, {"public_id": public_id})
        if not is_callers(row, account_id):
            raise not_found(what, f"{what}_not_found")
        if row.state in lifecycle.FINAL:
            finished_tasks.keep(public_id, account_id, row, generation)
    note_task(public_id)
    return row  # type: ignore[no-any-return]  # a Row has TaskView's attributes


def looks_like_public_id(text: str) -> bool:
    """Whether `text` could be a task's public id; nothing else is looked up (PostgreSQL refuses a NUL in a
    statement's parameters, and a made-up id of any other shape finds nothing anyway)."""
    return _PUBLIC_ID.fullmatch(text) is not None


def _check_id(public_id: str, what: str) -> None:
    if not looks_like_public_id(public_id):
        raise not_found(what, f"{what}_not_found")
