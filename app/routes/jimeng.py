"""Jimeng dialect (SPEC 2.4): Volcengine's visual async API (`Action=CVSync2Async...`), for tasks of any vendor."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from app.access import request_id, request_ms
from app.errors import ApiError, bad_field, register_renderer
from app.lifecycle import public_status
from app.normalize import Body, read_body
from app.normalize import validate as validate_fields
from app.routes import IDEMPOTENCY_KEY, caller, document_errors, task_view
from app.schemas import JimengQuery, JimengSchema
from app.serializers import TaskView, content_url
from app.submission import submit

blp = Blueprint("jimeng", __name__, url_prefix="/jimeng", description="Jimeng (Volcengine visual) compatible API")

SUCCESS = 10000
# Frames as Jimeng counts them (24 fps, plus one): 121 is 5 s, 241 is 10 s.
FRAMES_TO_SECONDS = {121: 5, 241: 10}
_STATUS = {"queued": "in_queue", "in_progress": "generating", "completed": "done", "failed": "done"}
# Volcengine's 50xxx business codes by HTTP status; failures of a task reuse the nearest documented code.
_CODES = {401: 50401, 403: 50403, 404: 50404, 429: 50429}
_FAILURE_CODES = {"content_policy": 50412, "invalid_request": 50400}


class SubmitSchema(Schema):
    class Meta:
        unknown = RAISE

    req_key = fields.String(required=True, validate=validate.Length(1, 100))
    prompt = fields.String(validate=validate.Length(max=10_000))
    binary_data_base64 = fields.List(fields.String(), validate=validate.Length(max=2))
    image_urls = fields.List(fields.String(), validate=validate.Length(max=2))
    seed = fields.Integer(strict=True, validate=validate.Range(-1, 2**32))
    frames = fields.Integer(strict=True)
    aspect_ratio = fields.String()
    req_json = fields.String()  # Volcengine's optional watermark/meta settings: accepted, not forwarded


class GetResultSchema(Schema):
    class Meta:
        unknown = RAISE

    req_key = fields.String(required=True)
    task_id = fields.String(required=True, validate=validate.Length(1, 64))
    req_json = fields.String()


def envelope(code: int, message: str, data: dict[str, Any] | None) -> dict[str, Any]:
    return {"code": code, "message": message, "request_id": request_id(), "status": code,
            "time_elapsed": f"{request_ms():.2f}ms", "data": data}


def render_error(error: ApiError) -> tuple[dict[str, Any], int]:
    code = _CODES.get(error.status, 50500 if error.status >= 500 else 50400)
    return envelope(code, error.message, None), error.status


register_renderer(blp.name, render_error)


def unified_body(data: dict[str, Any]) -> Body:
    """A Jimeng submission in unified field names: req_key is the model, the images first and last frame."""
    images = [*data.get("binary_data_base64", []), *data.get("image_urls", [])]
    if data.get("binary_data_base64") and data.get("image_urls"):
        raise ApiError(400, "send binary_data_base64 or image_urls, not both", code="conflicting_parameters",
                       param="binary_data_base64,image_urls")
    fields_: dict[str, Any] = {"model": data["req_key"]}
    for name in ("prompt", "seed", "aspect_ratio"):
        if name in data:
            fields_[name] = data[name]
    if "frames" in data:
        if data["frames"] not in FRAMES_TO_SECONDS:
            raise bad_field("frames", "frames must be 121 (5 s) or 241 (10 s)")
        fields_["duration"] = FRAMES_TO_SECONDS[data["frames"]]
    if images:
        fields_["image"] = images[0]
    if len(images) > 1:
        fields_["last_image"] = images[1]
    return Body(fields_, {})


def result(task: TaskView | None) -> dict[str, Any]:
    """GetResult's answer: a failed task is `done` with a non-10000 code and the reason, as Volcengine does."""
    if task is None:
        return envelope(SUCCESS, "Success", {"status": "not_found", "video_url": ""})
    status = public_status(task)
    data = {"status": _STATUS[status], "video_url": content_url(task) if status == "completed" else ""}
    if status == "failed":
        return envelope(_FAILURE_CODES.get(task.error_code or "", 50500), task.error_message or "failed", data)
    return envelope(SUCCESS, "Success", data)


@blp.route("/", methods=["POST"])
@blp.arguments(JimengQuery, location="query", as_kwargs=True)
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": SubmitSchema}}},
         parameters=[IDEMPOTENCY_KEY])
@blp.response(200, JimengSchema)
@document_errors(blp, 400, 401, 403, 413, 415, 429, schema=JimengSchema)
def action(Action: str, Version: str) -> Response:  # noqa: N803 (Volcengine's names)
    """`Action=CVSync2AsyncSubmitTask` submits; `Action=CVSync2AsyncGetResult` reads a task."""
    who = caller()
    body = read_body(request)
    # Ready Responses: the envelopes are already in JimengSchema's shape (tests/app/test_serializers.py), so
    # flask-smorest need not dump them through it again.
    if Action == "CVSync2AsyncSubmitTask":
        data = validate_fields(SubmitSchema, body.fields)
        task = submit(who, request, unified_body(data), dialect="jimeng")
        return jsonify(envelope(SUCCESS, "Success", {"task_id": task.public_id}))
    data = validate_fields(GetResultSchema, body.fields)
    try:
        task: TaskView | None = task_view(data["task_id"], what="task")
    except ApiError:
        task = None
    return jsonify(result(task))
