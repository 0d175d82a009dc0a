"""Normalisation rules of SPEC 2.5: aliases fold into one request, disagreements are 400s naming both."""
from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from flask import Request
from marshmallow import Schema, ValidationError
from werkzeug.test import EnvironBuilder

from app.errors import ApiError
from app.normalize import MAX_NESTING, ImagePolicy, _narrowed, normalise, read_body, sniff_image, validate
from app.routes.jimeng import GetResultSchema, SubmitSchema
from app.schemas import VideoCreateSchema

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
stored: list[bytes] = []


def policy(max_bytes: int = 1024) -> ImagePolicy:
    def store(index: int, data: bytes, content_type: str) -> str:
        stored.append(data)
        return f"inputs/test/{index}"

    return ImagePolicy(max_bytes, ("127.0.0.1",), store)


def run(body: dict[str, Any], max_bytes: int = 1024):  # type: ignore[no-untyped-def]
    return normalise(validate(VideoCreateSchema, body), {}, policy(max_bytes), default_model="sora-2")


def error_of(body: dict[str, Any], max_bytes: int = 1024) -> ApiError:
    with pytest.raises(ApiError) as caught:
        run(body, max_bytes)
    return caught.value


def test_duration_and_seconds_fold_into_one_field() -> None:
    assert run({"prompt": "p", "duration": 8}).seconds == 8
    assert run({"prompt": "p", "seconds": "8"}).seconds == 8
    assert run({"prompt": "p", "duration": "8", "seconds": "8"}).seconds == 8


def test_disagreeing_duration_and_seconds_name_both() -> None:
    error = error_of({"prompt": "p", "duration": 5, "seconds": "8"})
    assert (error.status, error.param, error.code) == (400, "duration,seconds", "conflicting_parameters")


def test_size_as_dimensions_or_ratio() -> None:
    request = run({"prompt": "p", "size": "1280x720"})
    assert (request.width, request.height, request.aspect_ratio) == (1280, 720, None)
    assert run({"prompt": "p", "size": "16:9"}).aspect_ratio == "16:9"
    assert run({"prompt": "p", "width": 1280, "height": 720, "aspect_ratio": "16:9"}).size == "1280x720"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"size": "1280x720", "width": 720, "height": 1280}, "size,width"),
        ({"size": "16:9", "aspect_ratio": "9:16"}, "size,aspect_ratio"),
        ({"size": "1280x720", "aspect_ratio": "9:16"}, "size,aspect_ratio"),
    ],
)
def test_disagreeing_size_fields_are_refused(body: dict[str, Any], param: str) -> None:
    error = error_of({"prompt": "p", **body})
    assert (error.status, error.param) == (400, param)


def test_non_whole_nan_and_huge_durations_are_refused() -> None:
    for value in (5.5, "NaN", "inf", 10**9, True, "five"):
        error = error_of({"prompt": "p", "duration": value})
        assert (error.status, error.param) == (400, "duration")


def json_request(raw: bytes) -> Request:
    return Request(EnvironBuilder(method="POST", data=raw, content_type="application/json").get_environ())


def nested(levels: int) -> Any:
    """A string inside `levels` arrays."""
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


def test_nesting_up_to_the_limit_is_read_and_deeper_is_refused_by_field() -> None:
    # The body's own object is a level: a field may hold MAX_NESTING - 1 more.
    body = {"prompt": "p", "metadata": {"a": nested(MAX_NESTING - 2)}}
    assert read_body(json_request(json.dumps(body).encode())).fields == body
    with pytest.raises(ApiError) as caught:
        read_body(json_request(json.dumps({"prompt": "p", "metadata": {"a": nested(MAX_NESTING - 1)}}).encode()))
    assert (caught.value.status, caught.value.param) == (400, "metadata")
    assert f"more than {MAX_NESTING} levels" in caught.value.message


def test_nesting_past_the_parsers_recursion_is_a_400_not_a_crash() -> None:
    complete = b'{"metadata": ' + b"[" * 5_000 + b'"x"' + b"]" * 5_000 + b"}"
    for raw in (b"[" * 100_000, b'{"a":' * 100_000, complete):
        with pytest.raises(ApiError) as caught:
            read_body(json_request(raw))
        assert (caught.value.status, caught.value.code) == (400, "invalid_json"), raw[:20]


def test_unknown_fields_are_refused_by_name() -> None:
    error = error_of({"prompt": "p", "colour": "red"})
    assert (error.status, error.param, error.code) == (400, "colour", "unknown_parameter")


@pytest.mark.parametrize(("schema", "body"), [
    (VideoCreateSchema, {}),
    (VideoCreateSchema, {"model": "sora-2", "prompt": "a fox", "seconds": "4", "size": "1280x720"}),
    (VideoCreateSchema, {"prompt": "p", "width": "640", "height": 360, "fps": 24, "seed": -1, "metadata": {"k": "v"}}),
    (VideoCreateSchema, {"prompt": "p", "content": [{"type": "text", "text": "t"},
                                                    {"type": "image_url", "image_url": {"url": "u"}}]}),
    (VideoCreateSchema, {"prompt": "p", "seconds": "7.5", "fps": 0, "colour": "red"}),  # errors and an unknown name
    (VideoCreateSchema, {"prompt": 5, "size": "big", "content": [{"type": "video"}]}),
    (VideoCreateSchema, {"colour": "red", "shade": "dark"}),
    (SubmitSchema, {}),  # a required field missing
    (SubmitSchema, {"prompt": "p", "frames": "12"}),
    (SubmitSchema, {"req_key": "k", "colour": "red"}),
    (GetResultSchema, {"task_id": "t", "req_key": "k"}),
])
def test_a_load_of_the_sent_fields_only_agrees_with_the_whole_schema(schema: type[Schema],
                                                                     body: dict[str, Any]) -> None:
    def outcome(schema: Schema) -> Any:
        try:
            return schema.load(body)
        except ValidationError as exc:  # the same errors, in the same order (validate answers the first)
            return list(exc.normalized_messages().items())

    assert outcome(_narrowed(schema, frozenset(body))) == outcome(schema())


def test_made_up_names_are_refused_without_growing_the_narrowed_schemas() -> None:
    _narrowed.cache_clear()
    for n in range(5):
        with pytest.raises(ApiError) as caught:
            validate(VideoCreateSchema, {"prompt": "p", f"made_up_{n}": 1})
        assert (caught.value.param, caught.value.code) == (f"made_up_{n}", "unknown_parameter")
    assert _narrowed.cache_info().currsize == 1


def test_images_from_every_alias_get_roles() -> None:
    request = run({
        "prompt": "p",
        "image": "https://127.0.0.1/first.png",
        "last_image": "https://127.0.0.1/last.png",
        "reference_image_urls": ["https://127.0.0.1/r1.png", "https://127.0.0.1/r2.png"],
    })
    assert [(i.role, i.url) for i in request.images] == [
        ("first_frame", "https://127.0.0.1/first.png"),
        ("last_frame", "https://127.0.0.1/last.png"),
        ("reference", "https://127.0.0.1/r1.png"),
        ("reference", "https://127.0.0.1/r2.png"),
    ]


def test_two_first_frames_conflict() -> None:
    error = error_of({"prompt": "p", "image": "https://127.0.0.1/a.png", "input_reference": {"image_url": "https://127.0.0.1/b.png"}})
    assert (error.status, error.param) == (400, "image,input_reference")


def test_last_frame_alone_is_refused() -> None:
    assert error_of({"prompt": "p", "last_image": "https://127.0.0.1/a.png"}).param == "last_image"


def test_base64_and_data_url_images_are_stored_as_bytes() -> None:
    encoded = base64.b64encode(PNG).decode()
    for value in (encoded, f"data:image/png;base64,{encoded}"):
        request = run({"prompt": "p", "image": value})
        assert request.images[0].key == "inputs/test/0"
        assert request.images[0].content_type == "image/png"
        assert stored[-1] == PNG


def test_oversize_base64_image_is_413_before_decoding() -> None:
    error = error_of({"prompt": "p", "image": base64.b64encode(PNG * 100).decode()}, max_bytes=256)
    assert (error.status, error.param, error.code) == (413, "image", "image_too_large")


def test_non_image_bytes_are_refused() -> None:
    error = error_of({"prompt": "p", "image": base64.b64encode(b"hello, not an image").decode()})
    assert (error.status, error.param, error.code) == (400, "image", "invalid_image")


@pytest.mark.parametrize("url", ["http://10.0.0.5/x.png", "http://169.254.169.254/latest", "http://[::1]/x.png",
                                 "http://localhost:8080/x.png", "file:///etc/passwd"])
def test_image_urls_to_private_addresses_are_refused(url: str) -> None:
    error = error_of({"prompt": "p", "image": url})
    assert error.status == 400 and error.param == "image"


def test_content_parts_give_prompt_and_frames() -> None:
    request = run({"content": [
        {"type": "text", "text": "a fox"},
        {"type": "image_url", "image_url": {"url": "https://127.0.0.1/a.png"}, "role": "first_frame"},
        {"type": "image_url", "image_url": {"url": "https://127.0.0.1/b.png"}, "role": "last_frame"},
    ]})
    assert request.prompt == "a fox"
    assert [i.role for i in request.images] == ["first_frame", "last_frame"]


def test_pass_through_containers_reach_vendor_params_without_routing_keys() -> None:
    request = run({"prompt": "p", "metadata": {"style": "anime", "model": "cheap"},
                   "extra_body": {"bgm": False}, "parameters": {"watermark": True}})
    assert request.vendor_params == {"style": "anime", "bgm": False, "watermark": True}


def test_sniff_image_knows_common_formats() -> None:
    assert sniff_image(PNG) == "image/png"
    assert sniff_image(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff_image(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_image(b"<html>") is None
