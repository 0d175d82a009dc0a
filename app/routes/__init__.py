"""HTTP routes, one module per dialect, and the request-scoped helpers they share."""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import Caller, authenticate
from app.errors import ApiError, not_found
from app.extensions import db, rate_limiter
from app.models import Task
from app.schemas import ErrorEnvelopeSchema


def document_errors(blueprint: Blueprint, *statuses: int, schema: type[Schema] = ErrorEnvelopeSchema
                    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the error responses of a route in the OpenAPI document, in its dialect's envelope."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        for status in statuses:
            view = blueprint.alt_response(status, schema=schema, description="error envelope")(view)
        return view

    return decorate


_PUBLIC_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def session() -> Session:
    """One session per request, closed at teardown (see app.register_teardown)."""
    if "db_session" not in g:
        g.db_session = db.session()
    return g.db_session


def caller() -> Caller:
    """The authenticated caller, within its token's rate limit (429 with Retry-After beyond it)."""
    if "caller" in g:
        return g.caller
    who = authenticate(session())
    wait = rate_limiter.hit(str(who.token_id))
    if wait is not None:
        raise ApiError(429, "Rate limit reached for this token; retry after the indicated time.",
                       code="rate_limit_exceeded", headers={"Retry-After": str(math.ceil(wait))})
    return who


def owned_task(public_id: str, what: str = "video") -> Task:
    """The caller's live task with that id; anyone else's, or a deleted one, is simply not found."""
    if not _PUBLIC_ID.match(public_id):
        raise not_found(what, f"{what}_not_found")
    task = session().scalar(
        select(Task).where(Task.public_id == public_id, Task.account_id == caller().account_id)
    )
    if task is None or task.deleted_at is not None:
        raise not_found(what, f"{what}_not_found")
    g.task_id = task.public_id
    return task
