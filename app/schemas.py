"""Marshmallow schemas: the create bodies every dialect accepts and the objects the API returns."""
from __future__ import annotations

import math
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate


class WholeSeconds(fields.Field):
    """A duration as a number or a numeric string ("5", 5, 5.0); whole seconds, 1 to 3600."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise ValidationError("must be a number of seconds")
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError("must be a number of seconds") from exc
        if not math.isfinite(number) or number != int(number):
            raise ValidationError("must be a whole number of seconds")
        if not 1 <= number <= 3600:
            raise ValidationError("must be between 1 and 3600 seconds")
        return int(number)


class ImageField(fields.Field):
    """An image given as a URL, base64 or data URL string, or an object with `image_url`/`url`."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, dict):
            if "file_id" in value:
                raise ValidationError("file_id references are not supported; send the image itself or a URL")
            value = value.get("image_url") or value.get("url")
            if isinstance(value, dict):  # {"image_url": {"url": ...}} as in typed content parts
                value = value.get("url")
        if not isinstance(value, str) or not value.strip():
            raise ValidationError("must be an image URL, a data URL or base64")
        return value.strip()


class ContentPart(Schema):
    class Meta:
        unknown = RAISE

    type = fields.String(required=True, validate=validate.OneOf(["text", "image_url"]))
    text = fields.String()
    image_url = ImageField()
    role = fields.String(validate=validate.OneOf(["first_frame", "last_frame", "reference_image"]))


def _int(low: int, high: int) -> fields.Integer:
    return fields.Integer(strict=False, validate=validate.Range(low, high))


class VideoCreateSchema(Schema):
    """Every field of SPEC 2.5; unknown fields are refused so typos do not pass silently."""

    class Meta:
        unknown = RAISE

    model = fields.String(validate=validate.Length(1, 100))
    prompt = fields.String(validate=validate.Length(max=10_000))
    negative_prompt = fields.String(validate=validate.Length(max=10_000))
    image = ImageField()
    images = fields.List(ImageField(), validate=validate.Length(max=16))
    input_reference = ImageField()
    content = fields.List(fields.Nested(ContentPart), validate=validate.Length(max=32))
    last_image = ImageField()
    reference_image_urls = fields.List(ImageField(), validate=validate.Length(max=16))
    duration = WholeSeconds()
    seconds = WholeSeconds()
    size = fields.String(validate=validate.Regexp(r"^\s*\d{1,5}\s*[x*:]\s*\d{1,5}\s*$", error="must be WxH or W:H"))
    width = _int(16, 8192)
    height = _int(16, 8192)
    aspect_ratio = fields.String(validate=validate.Regexp(r"^\d{1,3}:\d{1,3}$", error="must look like 16:9"))
    resolution = fields.String(validate=validate.Regexp(r"^\d{3,4}[pP]$|^[248][kK]$", error="must look like 720p"))
    fps = _int(1, 120)
    seed = _int(-1, 2**32)
    n = _int(1, 8)
    mode = fields.String(validate=validate.Length(max=32))
    response_format = fields.String(validate=validate.OneOf(["url"]))
    user = fields.String(validate=validate.Length(max=256))
    callback_url = fields.Url(schemes={"http", "https"})
    metadata = fields.Dict(keys=fields.String())
    extra_body = fields.Dict(keys=fields.String())
    parameters = fields.Dict(keys=fields.String())


class RemixSchema(Schema):
    class Meta:
        unknown = RAISE

    prompt = fields.String(required=True, validate=validate.Length(1, 10_000))


class ErrorDetail(Schema):
    message = fields.String()
    type = fields.String()
    param = fields.String(allow_none=True)
    code = fields.String(allow_none=True)


class ErrorEnvelopeSchema(Schema):
    error = fields.Nested(ErrorDetail)


class VideoErrorSchema(Schema):
    code = fields.String()
    message = fields.String()


class TaskSummarySchema(Schema):
    """What a unified submission answers at once; the first fields of every task object."""

    id = fields.String(required=True)
    task_id = fields.String(required=True)
    object = fields.String(required=True)
    model = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["queued", "in_progress", "completed", "failed"]))
    progress = fields.Integer(required=True)
    created_at = fields.Integer(required=True)


class VideoSchema(TaskSummarySchema):
    """The OpenAI Video object (`task_id` is its legacy alias of `id`; `url` once completed)."""

    completed_at = fields.Integer(allow_none=True)
    expires_at = fields.Integer(allow_none=True)
    seconds = fields.String(allow_none=True)
    size = fields.String(allow_none=True)
    prompt = fields.String(allow_none=True)
    remixed_from_video_id = fields.String(allow_none=True)
    error = fields.Nested(VideoErrorSchema, allow_none=True)
    metadata = fields.Dict(allow_none=True)
    url = fields.String()


class VideoListSchema(Schema):
    object = fields.String()
    data = fields.List(fields.Nested(VideoSchema))
    first_id = fields.String(allow_none=True)
    last_id = fields.String(allow_none=True)
    has_more = fields.Boolean()


class VideoListQuery(Schema):
    class Meta:
        unknown = RAISE

    after = fields.String(validate=validate.Length(max=64))
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    order = fields.String(load_default="desc", validate=validate.OneOf(["asc", "desc"]))


class ContentQuery(Schema):
    class Meta:
        unknown = RAISE

    variant = fields.String(load_default="video", validate=validate.OneOf(["video", "thumbnail"]))


class DeletedSchema(Schema):
    id = fields.String()
    object = fields.String()
    deleted = fields.Boolean()


class GenerationSchema(VideoSchema):
    """The unified dialect's task: the Video object plus `format` once completed."""

    format = fields.String()



class KlingErrorSchema(Schema):
    """Kling's error envelope."""

    code = fields.Integer()
    message = fields.String()
    request_id = fields.String()


class KlingTaskDataSchema(Schema):
    task_id = fields.String()
    task_status = fields.String(validate=validate.OneOf(["submitted", "processing", "succeed", "failed"]))
    task_status_msg = fields.String()
    task_info = fields.Dict()
    created_at = fields.Integer()
    updated_at = fields.Integer()
    task_result = fields.Dict()


class KlingTaskSchema(GenerationSchema):
    """Kling's envelope, with the unified task fields at the top level beside it."""

    code = fields.Integer()
    message = fields.String()
    request_id = fields.String()
    data = fields.Nested(KlingTaskDataSchema)


class JimengSchema(Schema):
    """Volcengine's visual API envelope."""

    code = fields.Integer()
    message = fields.String()
    request_id = fields.String()
    status = fields.Integer()
    time_elapsed = fields.String()
    data = fields.Dict(allow_none=True)


class JimengQuery(Schema):
    Action = fields.String(required=True, validate=validate.OneOf(["CVSync2AsyncSubmitTask", "CVSync2AsyncGetResult"]))
    Version = fields.String(required=True, validate=validate.Equal("2022-08-31"))
