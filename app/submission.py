"""Accepting a submission: route the model, let the vendor refuse what it cannot do, write the task."""
from __future__ import annotations

import secrets
from typing import Any

from flask import Request
from sqlalchemy import bindparam, select

from app import lifecycle
from app.auth import Caller
from app.errors import ApiError, bad_field
from app.extensions import channels, db, settings, storage
from app.group_insert import GroupInsert
from app.models import Task, now
from app.normalize import Body, ImagePolicy, normalise, validate
from app.schemas import VideoCreateSchema
from app.serializers import VIEW_COLUMNS, TaskView, inserted_view
from app.storage import inputs_key
from app.video_request import VideoRequest
from workers.vendors import get_adapter
from workers.vendors.base import Refusal

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY: int = Task.__table__.c.idempotency_key.type.length  # 255, as Stripe allows
_BY_KEY = select(*VIEW_COLUMNS, Task.request_hash).where(
    Task.account_id == bindparam("account_id"), Task.idempotency_key == bindparam("key"))


# Creates arriving together in a web process share one INSERT and one commit (app.group_insert).
_task_rows = GroupInsert(Task.__table__, "public_id", lambda: db.autocommit_engine)


def new_public_id() -> str:
    return "video_" + secrets.token_hex(16)


def image_policy(public_id: str) -> ImagePolicy:
    config = settings()

    def store(index: int, data: bytes, content_type: str) -> str:
        return storage.put_stream(inputs_key(public_id, index), [data]).key

    return ImagePolicy(config.max_image_bytes, config.allowed_private_hosts, store)


def submit(caller: Caller, request: Request, body: Body, dialect: str,
           default_model: str | None = None, client_reference: str | None = None) -> TaskView:
    """The whole create path of every dialect, from a body already in the unified field names."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key and len(key) > MAX_IDEMPOTENCY_KEY:
        raise bad_field(IDEMPOTENCY_HEADER, f"{IDEMPOTENCY_HEADER} must be at most {MAX_IDEMPOTENCY_KEY} characters")
    fingerprint = body.fingerprint() if key else None
    if key:
        replay = _replay(caller, key, fingerprint)
        if replay is not None:
            return replay
    data = validate(VideoCreateSchema, body.fields)
    public_id = new_public_id()
    video_request = normalise(data, body.files, image_policy(public_id), default_model)
    return create_task(caller, video_request, dialect, public_id, client_metadata=data.get("metadata"),
                       idempotency_key=key, request_hash=fingerprint, client_reference=client_reference)


def create_task(caller: Caller, video_request: VideoRequest, dialect: str, public_id: str,
                *, client_metadata: dict[str, Any] | None = None, idempotency_key: str | None = None,
                request_hash: str | None = None, source: Task | None = None,
                client_reference: str | None = None) -> TaskView:
    """Write the task, pending, and answer with its row. No message is sent from here: the dispatcher sends the
    first step of a row whose `sent_at` is NULL within one tick (VIDGATE_DISPATCH_SECONDS), as it sends every
    other step, so the request saves a broker publish and the dispatcher's flow control sees every task."""
    model = video_request.model
    if not caller.may_use(model):
        raise ApiError(403, f"This token may not use model {model!r}.", code="model_not_allowed", param="model")
    channel = channels.by_id(source.channel_id) if source else None
    if channel is None:
        route = channels.route(model)
        refusal = channels.refusal(model)
        if route is None and refusal:
            raise bad_field("model", f"Model {model!r} is not available: {refusal}", "model_not_available")
        if route is None:
            known = ", ".join(sorted(channels.models())) or "none"
            raise bad_field("model", f"Model {model!r} is not served here; available: {known}", "model_not_found")
        channel = route.channel
    try:
        adapter = get_adapter(channel.vendor)
    except LookupError:
        raise bad_field("model", f"Model {model!r} needs the {channel.vendor} vendor, which is not available yet",
                        "model_not_available") from None
    spec = channel.models[model]
    if source is not None and not adapter.supports_remix:
        raise bad_field("video_id", f"The {channel.vendor} upstream of this video does not support remix",
                        "remix_not_supported")
    try:
        adapter.check(video_request, spec)
    except Refusal as refusal:
        raise bad_field(refusal.param, f"{refusal.message} (model {model})", "unsupported_value") from refusal
    created = now()
    values = {
        "public_id": public_id, "account_id": caller.account_id, "token_id": caller.token_id, "dialect": dialect,
        "model": model, "vendor": channel.vendor, "channel_id": channel.id, "upstream_model": spec.upstream,
        "state": lifecycle.PENDING, "request": video_request.to_json(), "metadata": client_metadata,
        "idempotency_key": idempotency_key, "request_hash": request_hash,
        "remixed_from": source.public_id if source else None, "submit_key": secrets.token_hex(16),
        "client_reference": client_reference, "created_at": created, "updated_at": created,
        "deadline_at": created + (spec.deadline_minutes or channel.deadline_minutes) * 60,
        "next_action_at": created, "sent_at": None,
    }
    if _task_rows.insert(values) is not None:
        return inserted_view(values)
    if idempotency_key:  # a concurrent request with the same key won the race
        replay = _replay(caller, idempotency_key, request_hash)
        if replay is not None:
            return replay
    raise RuntimeError(f"task {public_id} was not written: its public id is taken")


def _replay(caller: Caller, key: str, fingerprint: str | None) -> TaskView | None:
    with db.autocommit() as connection:
        existing = connection.execute(_BY_KEY, {"account_id": caller.account_id, "key": key}).first()
    if existing is None:
        return None
    if existing.request_hash != fingerprint:
        raise ApiError(409, "This Idempotency-Key was already used with a different request.",
                       code="idempotency_conflict")
    return existing
