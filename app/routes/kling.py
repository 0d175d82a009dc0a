"""Kling dialect (SPEC 2.3): Kling's own paths, fields and envelope, for tasks of any vendor."""
from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint

from app.access import request_id
from app.answers import with_poll_hint
from app.errors import ApiError, bad_field, register_renderer
from app.lifecycle import public_status
from app.normalize import Body, read_body
from app.routes import IDEMPOTENCY_KEY, caller, document_errors, task_view
from app.routes.videos import CREATE_BODY, ERRORS
from app.schemas import KlingErrorSchema, KlingTaskSchema
from app.serializers import TaskView, content_url, generation_object
from app.submission import submit

blp = Blueprint("kling", __name__, url_prefix="/kling/v1/videos", description="Kling-compatible API")

ACTIONS = ("text2video", "image2video")
DEFAULT_MODEL = "kling-v1"
# Kling's own fields that have no unified name: they travel to the vendor as pass-through parameters.
PASS_THROUGH = ("cfg_scale", "camera_control", "static_mask", "dynamic_masks", "sound", "voice_list")
_STATUS = {"queued": "submitted", "in_progress": "processing", "completed": "succeed", "failed": "failed"}
# HTTP status -> Kling business code (Kling's documented ranges: 1000s auth, 1100s account, 1200s request,
# 1300s policy and rate, 5000s server).
_CODES = {400: 1201, 401: 1002, 403: 1103, 404: 1203, 405: 1202, 409: 1201, 413: 1201, 415: 1201, 429: 1302,
          500: 5000, 503: 5001}


def render_error(error: ApiError) -> tuple[dict[str, Any], int]:
    code = 1001 if error.code == "missing_api_key" else _CODES.get(error.status, 5000 if error.status >= 500 else 1200)
    return {"code": code, "message": error.message, "request_id": request_id()}, error.status


register_renderer(blp.name, render_error)


def unified_body(body: Body, action: str) -> tuple[Body, str | None]:
    """Kling's field names in unified terms; returns the body and the client's external_task_id."""
    fields = dict(body.fields)
    model_name = fields.pop("model_name", None)
    if model_name and fields.get("model") and model_name != fields["model"]:
        raise ApiError(400, "model and model_name disagree; send one of them", code="conflicting_parameters",
                       param="model,model_name")
    fields["model"] = fields.get("model") or model_name or DEFAULT_MODEL
    if "image_tail" in fields:
        fields["last_image"] = fields.pop("image_tail")
    extra = {name: fields.pop(name) for name in PASS_THROUGH if name in fields}
    if extra:
        fields["extra_body"] = {**(fields.get("extra_body") or {}), **extra}
    reference = fields.pop("external_task_id", None)
    if reference is not None and (not isinstance(reference, str) or len(reference) > 255):
        raise bad_field("external_task_id", "external_task_id must be a string of at most 255 characters")
    has_image = any(name in fields or name in body.files for name in ("image", "last_image", "images"))
    if action == "image2video" and not has_image:
        raise bad_field("image", "image2video needs image or image_tail")
    if action == "text2video" and not fields.get("prompt"):
        raise bad_field("prompt", "text2video needs a prompt")
    return Body(fields, body.files), reference


def kling_task(task: TaskView) -> dict[str, Any]:
    """Kling's task envelope, with the unified task fields beside it at the top level."""
    status = public_status(task)
    seconds = task.request.get("seconds")
    videos = [{"id": task.public_id, "url": content_url(task), "duration": str(seconds or "")}] \
        if status == "completed" else []
    data = {
        "task_id": task.public_id,
        "task_status": _STATUS[status],
        "task_status_msg": (task.error_message or "") if status == "failed" else "",
        "task_info": {"external_task_id": task.client_reference} if task.client_reference else {},
        "created_at": int(task.created_at * 1000),
        "updated_at": int(task.updated_at * 1000),
        "task_result": {"videos": videos},
    }
    return {**generation_object(task), "code": 0, "message": "SUCCEED", "request_id": request_id(),
            "data": data}


def _action(action: str) -> str:
    if action not in ACTIONS:
        raise ApiError(404, f"Unknown Kling action {action!r}; use text2video or image2video", code="not_found")
    return action


@blp.route("/<string:action>", methods=["POST"])
@blp.doc(requestBody=CREATE_BODY, parameters=[IDEMPOTENCY_KEY])
@blp.response(200, KlingTaskSchema)
@document_errors(blp, *ERRORS, schema=KlingErrorSchema)
def create(action: str):  # type: ignore[no-untyped-def]
    """Create a Kling text2video or image2video task (any model; `model_name` defaults to kling-v1)."""
    who = caller()
    body, reference = unified_body(read_body(request), _action(action))
    task = submit(who, request, body, dialect="kling", client_reference=reference)
    return with_poll_hint(task, kling_task(task))


@blp.route("/<string:action>/<string:task_id>", methods=["GET"])
@blp.response(200, KlingTaskSchema)
@document_errors(blp, 401, 404, schema=KlingErrorSchema)
def query(action: str, task_id: str):  # type: ignore[no-untyped-def]
    """A task in Kling's envelope; either action path reads any of the caller's tasks."""
    _action(action)
    task = task_view(task_id, what="task")
    return with_poll_hint(task, kling_task(task))
