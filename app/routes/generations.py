"""Unified dialect (SPEC 2.2): `/v1/video/generations` create and retrieve."""
from __future__ import annotations

from typing import Any

from flask import Request, request
from flask_smorest import Blueprint

from app.answers import read_answer, with_poll_hint
from app.auth import Caller
from app.normalize import read_body
from app.routes import IDEMPOTENCY_KEY, caller, document_errors, task_view
from app.routes.videos import CREATE_BODY, ERRORS
from app.schemas import GenerationSchema, TaskSummarySchema
from app.serializers import TaskView, generation_object
from app.submission import submit

blp = Blueprint("generations", __name__, url_prefix="/v1/video/generations",
                description="Unified video generation API")
_summary = TaskSummarySchema()  # a unified create answers the first fields of the task only


@blp.route("", methods=["POST"])
@blp.doc(requestBody=CREATE_BODY, parameters=[IDEMPOTENCY_KEY])
@blp.response(200, TaskSummarySchema)
@document_errors(blp, *ERRORS)
def create_generation():  # type: ignore[no-untyped-def]
    """Submit a generation in the unified format (the four request forms of seed 004 included)."""
    return with_poll_hint(*create(caller(), request))


def create(who: Caller, req: Request) -> tuple[TaskView, dict[str, Any]]:
    """A create's whole work, and its answer's body: the route's, and app.creates' for a trusted token."""
    task = submit(who, req, read_body(req), dialect="unified")
    return task, _summary.dump(generation_object(task))


@blp.route("/<string:task_id>", methods=["GET"])
@blp.response(200, GenerationSchema)
@document_errors(blp, 401, 404)
def get_generation(task_id: str):  # type: ignore[no-untyped-def]
    """A unified task: status, progress and, once completed, `url` and `format`."""
    return read_answer(task_view(task_id, what="task"), generation_object)
