"""Turns any dialect's body (JSON or multipart) into one VideoRequest, applying SPEC 2.5's rules."""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from math import gcd
from typing import Any

from flask import Request
from marshmallow import Schema, ValidationError, missing
from werkzeug.datastructures import FileStorage

from app.errors import ApiError, bad_field
from app.netguard import UnsafeURL, check_public_url
from app.video_request import ImageInput, ImageRole, VideoRequest

LIST_FIELDS = ("images", "reference_image_urls", "content")
JSON_FIELDS = ("metadata", "extra_body", "parameters", "content", "input_reference", "image")
FILE_FIELDS = ("image", "input_reference", "last_image", "images")
# Keys a pass-through container may not smuggle into the vendor body: they decide routing and billing.
ROUTING_KEYS = ("model", "model_name", "req_key")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Arrays and objects a body may nest: no field needs more than a few, and code that walks a value (the text
# check here, marshmallow, the JSON column's encoder, the vendor's body) must never meet a depth that ends in
# a RecursionError, a 500 however deep the client nests.
MAX_NESTING = 32
_IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


@dataclass
class Body:
    fields: dict[str, Any]
    files: dict[str, list[FileStorage]]

    def fingerprint(self) -> str:
        """A stable hash of what was sent, to tell an idempotent replay from a conflicting reuse of a key."""
        digest = hashlib.sha256(json.dumps(self.fields, sort_keys=True, default=str).encode())
        for name in sorted(self.files):
            for upload in self.files[name]:
                digest.update(name.encode())
                upload.stream.seek(0)
                for chunk in iter(lambda upload=upload: upload.stream.read(65536), b""):
                    digest.update(chunk)
                upload.stream.seek(0)
        return digest.hexdigest()


def read_body(request: Request) -> Body:
    """JSON or multipart/form-data into plain fields and files; anything else is a 415."""
    body = _parse_body(request)
    _check_text(body.fields, "")
    return body


def _check_text(value: Any, path: str, depth: int = 0) -> None:
    """Refuse text no database can store (NUL characters and lone UTF-16 surrogates, which JSON allows both),
    and containers nested deeper than MAX_NESTING."""
    if isinstance(value, str):
        if "\x00" in value or _SURROGATE.search(value):
            raise bad_field(path or "body", f"{path or 'the body'} contains a NUL character or a lone surrogate")
        return
    if isinstance(value, dict | list) and depth == MAX_NESTING:
        field = re.split(r"[.\[]", path, maxsplit=1)[0]  # the top-level field: the whole path may be long
        raise bad_field(field, f"{field} nests arrays or objects more than {MAX_NESTING} levels deep")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, path)
            _check_text(item, f"{path}.{key}" if path else str(key), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(item, f"{path}[{index}]", depth + 1)


def _parse_body(request: Request) -> Body:
    mimetype = request.mimetype
    if mimetype == "application/json" or mimetype.endswith("+json"):
        try:
            data = _loads(request.get_data(cache=True) or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"The body is not valid JSON: {exc}", code="invalid_json") from exc
        if not isinstance(data, dict):
            raise ApiError(400, "The body must be a JSON object.", code="invalid_json")
        return Body(data, {})
    if mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return _read_form(request)
    raise ApiError(415, "Send application/json or multipart/form-data.", code="unsupported_media_type")


def _read_form(request: Request) -> Body:
    form, fields = request.form, {}
    for key in form:
        name = key[:-2] if key.endswith("[]") else key
        values = form.getlist(key)
        if name in LIST_FIELDS:
            fields.setdefault(name, [])
            for value in values:
                parsed = _maybe_json(value) if name == "content" or value.lstrip().startswith("[") else value
                fields[name].extend(parsed if isinstance(parsed, list) else [parsed])
        elif len(values) > 1:
            raise bad_field(name, f"{name} was sent more than once")
        else:
            fields[name] = _maybe_json(values[0]) if name in JSON_FIELDS else values[0]
    files: dict[str, list[FileStorage]] = {}
    for key in request.files:
        name = key[:-2] if key.endswith("[]") else key
        if name not in FILE_FIELDS:
            raise bad_field(name, f"{name} cannot be a file; files are accepted for {', '.join(FILE_FIELDS)}",
                            code="unknown_parameter")
        files.setdefault(name, []).extend(request.files.getlist(key))
    return Body(fields, files)


def _maybe_json(value: str) -> Any:
    """Containers arrive as JSON strings in multipart; a plain string stays a string."""
    text = value.strip()
    if text[:1] in ("{", "["):
        try:
            return _loads(text)
        except ValueError:
            return value
    return value


def _loads(text: str | bytes) -> Any:
    """json.loads, with nesting too deep for the parser's recursion refused as the ValueError the caller expects
    of a body it cannot read (_check_text refuses the depths the parser gets through)."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError(f"arrays or objects nested more than {MAX_NESTING} levels deep") from exc


def validate(schema: type[Schema], fields: dict[str, Any]) -> dict[str, Any]:
    try:
        # Only declared names key the cache: names a client makes up would churn it (they stay unknown, refused).
        return _narrowed(schema, _declared(schema).intersection(fields)).load(fields)
    except ValidationError as exc:
        param, message = _first_error(exc.normalized_messages())
        unknown = message == "Unknown field."
        text = f"Unrecognized request argument supplied: {param}" if unknown else f"{param}: {message}"
        raise bad_field(param, text, code="unknown_parameter" if unknown else "invalid_value") from exc


@lru_cache(maxsize=64)
def _declared(schema: type[Schema]) -> frozenset[str]:
    """The names a body may give for the schema's fields."""
    return frozenset(field.data_key or name for name, field in schema().load_fields.items())


@lru_cache(maxsize=256)
def _narrowed(schema: type[Schema], sent: frozenset[str]) -> Schema:
    """`schema` with only the fields the body sent, and any it needs whether sent or not (required, or with a
    load default), in declared order: marshmallow visits every field of a schema on each load, sent or not,
    which for a create is 26 fields against the 3 to 5 a client sends (22 of 34 us). A name the schema does not
    declare stays unknown to the narrowed schema, and is refused as before."""
    keep = [name for name, field in schema().load_fields.items()
            if (field.data_key or name) in sent or field.required or field.load_default is not missing]
    return schema(only=keep)


def _first_error(messages: Any, path: str = "") -> tuple[str, str]:
    if isinstance(messages, dict):
        key, value = next(iter(messages.items()))
        name = f"{path}.{key}" if path and not isinstance(key, int) else (f"{path}[{key}]" if path else str(key))
        return _first_error(value, name)
    if isinstance(messages, list) and messages:
        return _first_error(messages[0], path) if not isinstance(messages[0], str) else (path, messages[0])
    return path, str(messages)


@dataclass(frozen=True)
class ImagePolicy:
    max_bytes: int
    allowed_private_hosts: tuple[str, ...]
    # Stores client image bytes and returns the storage key: (index, bytes) -> key.
    store: Callable[[int, bytes, str], str]


def normalise(data: dict[str, Any], files: dict[str, list[FileStorage]], policy: ImagePolicy,
              default_model: str | None = None) -> VideoRequest:
    """Apply the conflict rules and fold every alias into the one internal request."""
    model = data.get("model") or default_model
    if not model:
        raise bad_field("model", "model is required", code="missing_required_parameter")
    prompt = _prompt(data)
    seconds = _agree("duration", data.get("duration"), "seconds", data.get("seconds"))
    width, height, aspect_ratio = _dimensions(data)
    images = _Images(policy)
    images.collect(data, files)
    vendor_params: dict[str, Any] = {}
    for container in ("metadata", "extra_body", "parameters"):
        vendor_params.update({k: v for k, v in (data.get(container) or {}).items() if k not in ROUTING_KEYS})
    return VideoRequest(
        model=model,
        prompt=prompt,
        negative_prompt=data.get("negative_prompt"),
        images=tuple(images.items),
        seconds=seconds,
        width=width,
        height=height,
        aspect_ratio=aspect_ratio,
        resolution=(data.get("resolution") or "").lower() or None,
        fps=data.get("fps"),
        seed=data.get("seed"),
        n=data.get("n"),
        mode=data.get("mode"),
        user=data.get("user"),
        callback_url=data.get("callback_url"),
        vendor_params=vendor_params,
    )


def _agree(name_a: str, a: Any, name_b: str, b: Any) -> Any:
    if a is not None and b is not None and a != b:
        raise ApiError(400, f"{name_a} ({a}) and {name_b} ({b}) disagree; send one of them",
                       code="conflicting_parameters", param=f"{name_a},{name_b}")
    return a if a is not None else b


def _prompt(data: dict[str, Any]) -> str | None:
    texts = [part["text"] for part in data.get("content") or [] if part["type"] == "text" and part.get("text")]
    content_prompt = "\n".join(texts) or None
    return _agree("prompt", data.get("prompt"), "content", content_prompt)


def _dimensions(data: dict[str, Any]) -> tuple[int | None, int | None, str | None]:
    width, height, aspect = data.get("width"), data.get("height"), data.get("aspect_ratio")
    if (width is None) != (height is None):
        raise bad_field("width" if width is None else "height", "width and height go together")
    size = data.get("size")
    if size:
        a, sep, b = re.split(r"\s*([x*:])\s*", size.strip())
        a_val, b_val = int(a), int(b)
        if a_val == 0 or b_val == 0:
            raise bad_field("size", "size dimensions must be positive")
        if sep == ":":
            divisor = gcd(a_val, b_val)
            aspect = _agree("size", f"{a_val // divisor}:{b_val // divisor}", "aspect_ratio", _reduced(aspect))
        else:
            if not (16 <= a_val <= 8192 and 16 <= b_val <= 8192):
                raise bad_field("size", "size must be between 16 and 8192 pixels each way")
            width = _agree("size", a_val, "width", width)
            height = _agree("size", b_val, "height", height)
    if aspect and width and height:
        w, h = (int(x) for x in aspect.split(":"))
        if h == 0 or w == 0:
            raise bad_field("aspect_ratio", "aspect_ratio must be positive")
        # 1024x1792 is sold as 9:16 although it is 4:7: allow a few percent either way.
        if abs(width / height - w / h) > 0.03 * (w / h):
            raise ApiError(400, f"size {width}x{height} and aspect_ratio {aspect} disagree",
                           code="conflicting_parameters", param="size,aspect_ratio")
    return width, height, _reduced(aspect)


def _reduced(aspect: str | None) -> str | None:
    if not aspect:
        return None
    w, h = (int(x) for x in aspect.split(":"))
    if w == 0 or h == 0:
        raise bad_field("aspect_ratio", "aspect_ratio must be positive")
    divisor = gcd(w, h)
    return f"{w // divisor}:{h // divisor}"


class _Images:
    """Collects input images from every alias, checking URLs and storing bytes as it goes."""

    def __init__(self, policy: ImagePolicy) -> None:
        self.policy = policy
        self.items: list[ImageInput] = []
        self._first_from: str | None = None

    def collect(self, data: dict[str, Any], files: dict[str, list[FileStorage]]) -> None:
        for param in ("image", "input_reference"):
            for value in [data.get(param), *files.get(param, [])]:
                if value is not None:
                    self._first_frame(param, value)
        listed = [*(data.get("images") or []), *files.get("images", [])]
        role: ImageRole = "first_frame" if len(listed) == 1 else "reference"
        for value in listed:
            if role == "first_frame":
                self._first_frame("images", value)
            else:
                self._add("images", value, "reference")
        for value in [data.get("last_image"), *files.get("last_image", [])]:
            if value is not None:
                self._add("last_image", value, "last_frame")
        for value in data.get("reference_image_urls") or []:
            self._add("reference_image_urls", value, "reference")
        roles: dict[str, ImageRole] = {"first_frame": "first_frame", "last_frame": "last_frame",
                                        "reference_image": "reference"}
        for part in data.get("content") or []:
            if part["type"] == "image_url":
                if not part.get("image_url"):
                    raise bad_field("content", "an image_url part needs image_url")
                part_role = roles[part.get("role", "first_frame")]
                if part_role == "first_frame":
                    self._first_frame("content", part["image_url"])
                else:
                    self._add("content", part["image_url"], part_role)
        if any(i.role == "last_frame" for i in self.items) and self._first_from is None:
            raise bad_field("last_image", "a last frame needs a first frame: send image as well")

    def _first_frame(self, param: str, value: str | FileStorage) -> None:
        if self._first_from is not None:
            raise ApiError(400, f"{self._first_from} and {param} both give the first frame; send one of them",
                           code="conflicting_parameters", param=f"{self._first_from},{param}")
        self._first_from = param
        self._add(param, value, "first_frame")

    def _add(self, param: str, value: str | FileStorage, role: ImageRole) -> None:
        if isinstance(value, FileStorage):
            self._store(param, value.stream.read(self.policy.max_bytes + 1), role)
        elif value.startswith(("http://", "https://")):
            try:
                check_public_url(value, self.policy.allowed_private_hosts)
            except UnsafeURL as exc:
                raise bad_field(param, f"{param} URL {exc}", code="invalid_image_url") from exc
            self.items.append(ImageInput(role=role, url=value))
        else:
            self._store(param, _decode_base64(param, value, self.policy.max_bytes), role)

    def _store(self, param: str, data: bytes, role: ImageRole) -> None:
        if len(data) > self.policy.max_bytes:
            raise ApiError(413, f"{param} is larger than {self.policy.max_bytes} bytes", code="image_too_large",
                           param=param)
        content_type = sniff_image(data)
        if content_type is None:
            raise bad_field(param, f"{param} is not a PNG, JPEG, WebP or GIF image", code="invalid_image")
        key = self.policy.store(len(self.items), data, content_type)
        self.items.append(ImageInput(role=role, key=key, content_type=content_type))


def _decode_base64(param: str, value: str, max_bytes: int) -> bytes:
    payload = value
    if value.startswith("data:"):
        header, _, payload = value.partition(",")
        if ";base64" not in header:
            raise bad_field(param, f"{param} data URL must be base64-encoded", code="invalid_image")
    # Refuse oversize images from their length, before decoding them into memory.
    if len(payload) * 3 // 4 > max_bytes + 3:
        raise ApiError(413, f"{param} is larger than {max_bytes} bytes", code="image_too_large", param=param)
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise bad_field(param, f"{param} must be an http(s) URL, a data URL or base64", code="invalid_image") from exc


def sniff_image(data: bytes) -> str | None:
    for magic, content_type in _IMAGE_MAGIC.items():
        if data.startswith(magic):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
