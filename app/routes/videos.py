"""OpenAI Videos dialect (SPEC 2.1): create, retrieve, list, content, delete, remix."""
from __future__ import annotations

import time
from typing import Any

from flask import Request, Response, jsonify, request
from flask_smorest import Blueprint
from sqlalchemy import Select, bindparam, select
from werkzeug.wsgi import wrap_file

from app import lifecycle
from app.answers import read_answer, with_poll_hint
from app.auth import Caller
from app.db import DriverSelect
from app.errors import ApiError, bad_field
from app.extensions import db, finished_tasks, storage
from app.models import Task, now
from app.normalize import read_body, sniff_image, validate
from app.routes import (
    IDEMPOTENCY_KEY,
    caller,
    document_errors,
    is_callers,
    looks_like_public_id,
    owned_task,
    session,
    task_view,
)
from app.schemas import (
    ContentQuery,
    DeletedSchema,
    RemixSchema,
    VideoCreateSchema,
    VideoListQuery,
    VideoListSchema,
    VideoSchema,
)
from app.serializers import VIEW_COLUMNS, TaskView, video_object
from app.storage import thumbnail_key
from app.submission import create_task, new_public_id, submit
from app.video_request import VideoRequest

blp = Blueprint("videos", __name__, url_prefix="/v1/videos", description="OpenAI-compatible Videos API")

CREATE_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": VideoCreateSchema},
        "multipart/form-data": {"schema": VideoCreateSchema},
    },
}
STREAM_BUFFER = 256 * 1024
ERRORS = (400, 401, 403, 404, 409, 413, 415, 429)


@blp.route("", methods=["POST"])
@blp.doc(requestBody=CREATE_BODY, parameters=[IDEMPOTENCY_KEY])
@blp.response(200, VideoSchema)
@document_errors(blp, *ERRORS)
def create_video():  # type: ignore[no-untyped-def]
    """Create a video (multipart/form-data as the OpenAI SDK sends it, or JSON)."""
    return with_poll_hint(*create(caller(), request))


def create(who: Caller, req: Request) -> tuple[TaskView, dict[str, Any]]:
    """A create's whole work, and its answer's body: the route's, and app.creates' for a trusted token."""
    task = submit(who, req, read_body(req), dialect="openai", default_model="sora-2")
    return task, video_object(task)


@blp.route("", methods=["GET"])
@blp.arguments(VideoListQuery, location="query", as_kwargs=True)
@blp.response(200, VideoListSchema)
@document_errors(blp, 400, 401)
def list_videos(limit: int, order: str, after: str | None = None):  # type: ignore[no-untyped-def]
    """The caller's videos, newest first by default, with keyset pagination on `after`."""
    account_id = caller().account_id
    params: dict[str, Any] = {"account_id": account_id, "rows": limit + 1}
    if after:
        cursor = _cursor_row.first(db.autocommit_engine, {"public_id": after}) if looks_like_public_id(after) else None
        # The owner is checked here: see app.routes.VIEW_BY_PUBLIC_ID.
        if not is_callers(cursor, account_id):
            raise bad_field("after", "after must be the id of one of your videos")
        params["cursor_id"] = cursor.id
    rows = _pages[order, bool(after)].all(db.autocommit_engine, params)
    # A ready Response, as the other reads give: flask-smorest would otherwise dump the page through the schema
    # again, field by field, nearly half the CPU of a list of 100 videos (BENCHMARKS.md, item 1, session 14).
    return jsonify(video_list(rows[:limit], has_more=len(rows) > limit))


def _page_query(order: str, after_cursor: bool) -> Select[Any]:
    """A page of an account's live videos in `order` by id, after the row `cursor_id` if asked, `rows` long."""
    query = select(*VIEW_COLUMNS).where(Task.account_id == bindparam("account_id"), Task.deleted_at.is_(None))
    if after_cursor:
        cursor_id = bindparam("cursor_id", type_=Task.id.type)
        query = query.where(Task.id < cursor_id if order == "desc" else Task.id > cursor_id)
    return query.order_by(Task.id.desc() if order == "desc" else Task.id.asc()).limit(bindparam("rows"))


# Run on the driver, compiled once (see app.db.DriverSelect): building, caching and executing the statements
# through SQLAlchemy took more of a list's CPU than rendering its 20 videos.
_pages = {(order, after_cursor): DriverSelect(_page_query(order, after_cursor))
          for order in ("asc", "desc") for after_cursor in (False, True)}
_cursor_row = DriverSelect(select(Task.id, Task.account_id, Task.deleted_at).where(
    Task.public_id == bindparam("public_id")))


def video_list(page: list[Any], *, has_more: bool) -> dict[str, Any]:
    """A page of the caller's videos as OpenAI's list object."""
    data = [video_object(task) for task in page]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


@blp.route("/<string:video_id>", methods=["GET"])
@blp.response(200, VideoSchema)
@document_errors(blp, 401, 404)
def retrieve_video(video_id: str):  # type: ignore[no-untyped-def]
    """A video's status; `openai-poll-after-ms` says when to ask again."""
    return read_answer(task_view(video_id), video_object)


@blp.route("/<string:video_id>", methods=["DELETE"])
@blp.response(200, DeletedSchema)
@document_errors(blp, 401, 404)
def delete_video(video_id: str):  # type: ignore[no-untyped-def]
    """Delete a video: cancels it upstream if still running and removes the stored file."""
    delete_task(owned_task(video_id))
    return {"id": video_id, "object": "video.deleted", "deleted": True}


def delete_task(task: Task) -> None:
    """Hide the task at once; the worker's cleanup step cancels upstream and removes files."""
    db_session = session()
    for _ in range(5):  # a worker may move the task between our read and our write: re-read and retry
        at = now()
        if lifecycle.guarded_update(db_session, task, state=lifecycle.CANCELLED, deleted_at=at,
                                    next_action_at=at, sent_at=at, lease_until=None):
            db_session.commit()
            finished_tasks.deleted(task.public_id)
            lifecycle.enqueue(task)
            return
        db_session.refresh(task)
    raise ApiError(409, "The video changed while it was being deleted; try again.", code="conflict")


@blp.route("/<string:video_id>/content", methods=["GET"])
@blp.arguments(ContentQuery, location="query", as_kwargs=True)
@blp.response(200, description="The MP4 (or thumbnail) bytes; honours Range with 206.",
              content_type="application/octet-stream")
@document_errors(blp, 400, 401, 404)
def video_content(video_id: str, variant: str):  # type: ignore[no-untyped-def]
    """Stream the stored file with Range, ETag and Content-Length, in constant memory."""
    task = task_view(video_id)
    if task.state != lifecycle.COMPLETED:
        if task.state == lifecycle.FAILED:
            raise ApiError(404, f"Video {video_id} failed; it has no content.", code="video_failed")
        raise ApiError(404, f"Video {video_id} is not ready yet.", code="video_not_ready")
    if task.storage_key is None or (task.expires_at is not None and task.expires_at <= time.time()):
        raise ApiError(404, f"Video {video_id} expired and its file was removed.", code="video_expired")
    key = task.storage_key if variant == "video" else thumbnail_key(task.public_id)
    try:
        handle, size = storage.open(key)
    except FileNotFoundError:
        code = "video_expired" if variant == "video" else "thumbnail_not_available"
        raise ApiError(404, f"No {variant} is stored for video {video_id}.", code=code) from None
    if variant == "video":
        mimetype = task.content_type or "video/mp4"
    else:
        mimetype = sniff_image(handle.read(16)) or "application/octet-stream"
        handle.seek(0)
    response = Response(wrap_file(request.environ, handle, STREAM_BUFFER), mimetype=mimetype,
                        direct_passthrough=True)
    response.content_length = size
    response.set_etag(task.sha256 if variant == "video" else f"{task.sha256}-{variant}")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response.make_conditional(request, accept_ranges=True, complete_length=size)


@blp.route("/<string:video_id>/remix", methods=["POST"])
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": RemixSchema}}})
@blp.response(200, VideoSchema)
@document_errors(blp, 400, 401, 403, 404, 415)
def remix_video(video_id: str):  # type: ignore[no-untyped-def]
    """A new video from a completed one with a new prompt, on upstreams that support remix."""
    # Read as a create's body is, so the remix prompt meets the same checks (text a database cannot store,
    # nesting, the envelope of a malformed body).
    prompt = validate(RemixSchema, read_body(request).fields)["prompt"]
    source = owned_task(video_id)
    if source.state != lifecycle.COMPLETED or not source.upstream_id:
        raise bad_field("video_id", "Only a completed video can be remixed.", "video_not_ready")
    original = VideoRequest.from_json(source.request)
    remix = VideoRequest(model=source.model, prompt=prompt, seconds=original.seconds, width=original.width,
                         height=original.height, remix_of_upstream_id=source.upstream_id)
    task = create_task(caller(), remix, "openai", new_public_id(), source=source)
    return with_poll_hint(task, video_object(task))

