"""The request class's multipart/form-data parser: fields, files, limits and malformed bodies."""
from __future__ import annotations

import hashlib
from typing import Any

import pytest
from flask import Flask, jsonify, request
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage

from app import form_parser
from app.errors import register_errorhandlers
from app.form_parser import READ_BYTES, SPOOL_BYTES, Request

BOUNDARY = "testboundary42"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def form(*parts: tuple[str, bytes], filename: dict[str, str] | None = None, end: bool = True) -> bytes:
    """A multipart body written by hand, so tests control every byte."""
    body = b""
    for name, value in parts:
        disposition = f'form-data; name="{name}"'
        if filename and name in filename:
            disposition += f'; filename="{filename[name]}"\r\nContent-Type: application/octet-stream'
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    return body + (f"--{BOUNDARY}--\r\n".encode() if end else b"")


@pytest.fixture
def echo() -> FlaskClient:
    """A bare app with the request class, answering what it parsed."""
    app = Flask(__name__)
    app.request_class = Request
    register_errorhandlers(app)
    opened: list[Any] = []
    app.config["opened"] = opened

    @app.post("/echo")
    def _echo() -> Any:
        files = {}
        for name, upload in request.files.items(multi=True):
            opened.append(upload.stream)
            data = upload.stream.read()
            files[name] = {"filename": upload.filename, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                           "content_type": upload.content_type}
        return jsonify(fields=list(request.form.items(multi=True)), files=files)

    return app.test_client()


def post(client: FlaskClient, body: bytes, content_type: str = MULTIPART) -> Any:
    return client.post("/echo", data=body, headers={"Content-Type": content_type})


def test_fields_and_files_are_parsed_in_order_with_repeated_names(echo: FlaskClient) -> None:
    video = bytes(range(256)) * 1024  # larger than the spool limit: written to a temporary file while parsed
    assert len(video) > SPOOL_BYTES
    body = form(("model", b"sora-2"), ("prompt", "a fox in snow, \u72d0".encode()), ("images[]", b"u1"),
                ("images[]", b"u2"), ("input_reference", video), filename={"input_reference": "ref.bin"})
    response = post(echo, body)
    assert response.status_code == 200, response.json
    assert response.json["fields"] == [["model", "sora-2"], ["prompt", "a fox in snow, \u72d0"],
                                       ["images[]", "u1"], ["images[]", "u2"]]
    upload = response.json["files"]["input_reference"]
    assert upload == {"filename": "ref.bin", "size": len(video), "sha256": hashlib.sha256(video).hexdigest(),
                      "content_type": "application/octet-stream"}
    assert all(stream.closed for stream in echo.application.config["opened"])  # closed with the request


def test_a_text_field_longer_than_one_read_arrives_whole_in_its_own_charset(echo: FlaskClient) -> None:
    echo.application.config.update(MAX_FORM_MEMORY_SIZE=4 * READ_BYTES)
    prompt = "a fox \u72d0 in snow; " * (2 * READ_BYTES // 20)  # longer than one read of the body
    assert len(prompt.encode()) > READ_BYTES
    latin = f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"style\"\r\n" \
            f"Content-Type: text/plain; charset=latin-1\r\n\r\n".encode() + "caf\u00e9".encode("latin-1") + b"\r\n"
    response = post(echo, latin + form(("prompt", prompt.encode())))
    assert response.status_code == 200, response.json
    assert response.json["fields"] == [["style", "caf\u00e9"], ["prompt", prompt]]


def test_urlencoded_forms_still_parse(echo: FlaskClient) -> None:
    response = post(echo, b"model=sora-2&prompt=a+fox", "application/x-www-form-urlencoded")
    assert response.json["fields"] == [["model", "sora-2"], ["prompt", "a fox"]]


@pytest.mark.parametrize(("body", "content_type"), [
    (form(("prompt", b"a fox"), end=False), MULTIPART),  # cut short
    (b"--other\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--other--\r\n", MULTIPART),
    (f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nno disposition\r\n--{BOUNDARY}--\r\n".encode(), MULTIPART),
    (form(("prompt", b"\xff\xfe not utf-8")), MULTIPART),
    (form(("prompt", b"a fox")), "multipart/form-data"),  # no boundary
    (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Type: text/plain; charset=no-such"
     f"\r\n\r\nb\r\n--{BOUNDARY}--\r\n".encode(), MULTIPART),  # a charset Python does not know
])
def test_a_malformed_body_is_a_400_that_says_so(echo: FlaskClient, body: bytes, content_type: str) -> None:
    response = post(echo, body, content_type)
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "invalid_multipart"
    assert "malformed" in response.json["error"]["message"]


def test_limits_are_413(echo: FlaskClient) -> None:
    echo.application.config.update(MAX_FORM_PARTS=3, MAX_FORM_MEMORY_SIZE=100)
    too_many = post(echo, form(*[(f"f{n}", b"x") for n in range(4)]))
    assert too_many.status_code == 413 and too_many.json["error"]["code"] == "request_too_large"
    too_long = post(echo, form(("prompt", b"x" * 101)))
    assert too_long.status_code == 413 and "prompt" in too_long.json["error"]["message"]
    a_file_is_not_a_text_field = post(echo, form(("input_reference", b"x" * 101), filename={"input_reference": "a"}))
    assert a_file_is_not_a_text_field.status_code == 200
    echo.application.config.update(MAX_CONTENT_LENGTH=1000)
    too_big = post(echo, form(("input_reference", b"x" * 2000), filename={"input_reference": "a"}))
    assert too_big.status_code == 413


def test_the_sdk_form_creates_a_video_through_the_app(client: FlaskClient, auth: dict[str, str]) -> None:
    body = form(("model", b"sora-2"), ("prompt", b"a fox"), ("seconds", b"4"), ("size", b"1280x720"))
    created = client.post("/v1/videos", data=body, headers={**auth, "Content-Type": MULTIPART})
    assert created.status_code == 200, created.json
    assert (created.json["prompt"], created.json["seconds"], created.json["size"]) == ("a fox", "4", "1280x720")
    broken = client.post("/v1/videos", data=form(("prompt", b"a fox"), end=False),
                         headers={**auth, "Content-Type": MULTIPART})
    assert broken.status_code == 400 and broken.json["error"]["code"] == "invalid_multipart"


def test_an_upload_is_closed_when_a_later_part_fails(echo: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[FileStorage] = []

    class Recorded(FileStorage):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(form_parser, "FileStorage", Recorded)
    upload = form(("input_reference", b"x" * 10), filename={"input_reference": "a"}, end=False)
    broken = f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nno disposition\r\n--{BOUNDARY}--\r\n".encode()
    assert post(echo, upload + broken).status_code == 400
    assert len(made) == 1 and made[0].stream.closed
