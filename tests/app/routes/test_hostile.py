"""A bad-input battery for every dialect, on SQLite and PostgreSQL: always a clear 4xx in the dialect's own
envelope, never a 500, and never a task readable by another account."""
from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from app.extensions import db
from app.models import Task
from app.normalize import MAX_NESTING
from app.submission import MAX_IDEMPOTENCY_KEY
from tests.conftest import Sim, make_settings, new_token, prepared_app

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def openai_envelope(body: dict[str, Any]) -> bool:
    return set(body) == {"error"} and {"message", "type", "param", "code"} <= set(body["error"])


def kling_envelope(body: dict[str, Any]) -> bool:
    return set(body) == {"code", "message", "request_id"} and isinstance(body["code"], int)


def jimeng_envelope(body: dict[str, Any]) -> bool:
    return isinstance(body["code"], int) and body["code"] != 10000 and body["data"] is None


@dataclass(frozen=True)
class Dialect:
    create: str
    base: dict[str, Any]
    envelope: Callable[[dict[str, Any]], bool]


DIALECTS = {
    "openai": Dialect("/v1/videos", {"model": "sora-2", "prompt": "a fox"}, openai_envelope),
    "unified": Dialect("/v1/video/generations", {"model": "sora-2", "prompt": "a fox"}, openai_envelope),
    "kling": Dialect("/kling/v1/videos/text2video", {"model_name": "sora-2", "prompt": "a fox"}, kling_envelope),
    "jimeng": Dialect("/jimeng/?Action=CVSync2AsyncSubmitTask&Version=2022-08-31",
                      {"req_key": "sora-2", "prompt": "a fox"}, jimeng_envelope),
}

# Field changes that must each be refused. Values are merged into the dialect's valid base body.
BAD_FIELDS: dict[str, dict[str, Any]] = {
    "wrong type": {"prompt": ["a", "list"]},
    "unknown field": {"colour": "red"},
    "oversize prompt": {"prompt": "x" * 20_001},
    "NUL in text": {"prompt": "a\u0000b"},
    "lone surrogate": {"prompt": "a\ud800b"},
    "negative seed": {"seed": -5},
    "huge seed": {"seed": 10**30},
    "float seed": {"seed": 1.5},
    "non-image base64": {"image": base64.b64encode(b"just some text, not an image").decode()},
}
GENERIC_ONLY: dict[str, dict[str, Any]] = {  # fields the Jimeng dialect does not have
    "NaN duration": {"duration": float("nan")},
    "negative width": {"width": -1, "height": 720},
    "zero n": {"n": 0},
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def api(request: pytest.FixtureRequest, tmp_path: Path, sim: Sim) -> tuple[FlaskClient, dict[str, str]]:
    env = {"VIDGATE_MAX_IMAGE_BYTES": "1024"}
    if request.param == "postgres":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    client = prepared_app(make_settings(tmp_path / "instance", sim.url, **env)).test_client()
    return client, {"Authorization": f"Bearer {new_token()}"}


def send(client: FlaskClient, headers: dict[str, str], dialect: Dialect, body: dict[str, Any]) -> Any:
    # json.dumps, not the client's json=: NaN, surrogates and huge ints must reach the server as sent.
    return client.post(dialect.create, data=json.dumps(body), headers={**headers, "Content-Type": "application/json"})


@pytest.mark.parametrize("dialect_name", DIALECTS)
def test_bad_fields_are_refused_in_the_dialects_envelope(api: tuple[FlaskClient, dict[str, str]],
                                                         dialect_name: str) -> None:
    client, headers = api
    dialect = DIALECTS[dialect_name]
    cases = {**BAD_FIELDS, **({} if dialect_name == "jimeng" else GENERIC_ONLY)}
    if dialect_name == "jimeng":
        cases["non-image base64"] = {"binary_data_base64": [cases.pop("non-image base64")["image"]]}
        cases["oversize image"] = {"binary_data_base64": [base64.b64encode(PNG * 100).decode()]}
    else:
        cases["oversize image"] = {"image": base64.b64encode(PNG * 100).decode()}
    for name, change in cases.items():
        response = send(client, headers, dialect, {**dialect.base, **change})
        expected = 413 if name == "oversize image" else 400
        assert response.status_code == expected, (name, response.status_code, response.get_data(as_text=True))
        assert dialect.envelope(response.json), (name, response.json)


@pytest.mark.parametrize("dialect_name", DIALECTS)
def test_malformed_bodies_are_4xx(api: tuple[FlaskClient, dict[str, str]], dialect_name: str) -> None:
    client, headers = api
    dialect = DIALECTS[dialect_name]
    deep: Any = "x"
    for _ in range(MAX_NESTING + 8):
        deep = {"a": deep}
    bodies = [
        ("application/json", b"{not json"),
        ("application/json", b"[1, 2, 3]"),
        ("application/json", b"\xff\xfe\x00garbage"),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data\r\n\r\nbroken"),
        ("text/plain", b"prompt=a fox"),
        # Nested past the parser's recursion, and within it but past MAX_NESTING, in JSON and in a form field.
        ("application/json", b"[" * 100_000),
        ("application/json", json.dumps({**dialect.base, "metadata": deep}).encode()),
        ("multipart/form-data; boundary=xyz",
         b'--xyz\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n'
         + json.dumps(deep).encode() + b"\r\n--xyz--\r\n"),
    ]
    for content_type, raw in bodies:
        response = client.post(dialect.create, data=raw, headers={**headers, "Content-Type": content_type})
        assert 400 <= response.status_code < 500, (content_type, raw, response.status_code)
        assert dialect.envelope(response.json), (content_type, response.json)


@pytest.mark.parametrize("dialect_name", DIALECTS)
def test_an_idempotency_key_longer_than_its_column_is_refused(api: tuple[FlaskClient, dict[str, str]],
                                                             dialect_name: str) -> None:
    client, headers = api
    dialect = DIALECTS[dialect_name]
    longest = {**headers, "Idempotency-Key": "k" * MAX_IDEMPOTENCY_KEY}
    first, again = (send(client, longest, dialect, dialect.base) for _ in range(2))
    task_ids = [re.findall(r"video_[0-9a-f]{32}", answer.get_data(as_text=True)) for answer in (first, again)]
    assert first.status_code == again.status_code == 200 and task_ids[0] and task_ids[0] == task_ids[1]
    refused = send(client, {**headers, "Idempotency-Key": "k" * (MAX_IDEMPOTENCY_KEY + 1)}, dialect, dialect.base)
    assert refused.status_code == 400 and dialect.envelope(refused.json), refused.json
    assert "Idempotency-Key" in refused.get_data(as_text=True)


def test_a_remix_body_is_checked_as_a_creates(api: tuple[FlaskClient, dict[str, str]]) -> None:
    client, headers = api
    source = send(client, headers, DIALECTS["openai"], {"model": "sora-2", "prompt": "a fox"}).json["id"]
    with client.application.app_context(), db.session() as session:
        session.execute(update(Task).where(Task.public_id == source).values(state="completed", upstream_id="up-1"))
        session.commit()
    remix = f"/v1/videos/{source}/remix"
    json_type = {**headers, "Content-Type": "application/json"}
    for raw, param, said in [
        (json.dumps({"prompt": "a\u0000b"}), "prompt", "NUL"), (json.dumps({"prompt": "a\ud800b"}), "prompt", "NUL"),
        (json.dumps({}), "prompt", "required"), (json.dumps({"prompt": "p", "seed": 1}), "seed", "Unrecognized"),
        ("[" * 100_000, None, "not valid JSON"), ('{"prompt": "p", "x": ' + "[" * 40 + "]" * 40 + "}", "x", "levels"),
    ]:
        response = client.post(remix, data=raw, headers=json_type)
        assert response.status_code == 400 and openai_envelope(response.json), (raw[:40], response.json)
        assert response.json["error"]["param"] == param and said in response.json["error"]["message"], response.json
    assert client.post(remix, data="prompt=p", headers={**headers, "Content-Type": "text/plain"}).status_code == 415
    remixed = client.post(remix, json={"prompt": "the fox, at night"}, headers=headers)
    assert remixed.status_code == 200 and remixed.json["remixed_from_video_id"] == source


def test_a_list_cursor_that_cannot_be_an_id_is_refused(api: tuple[FlaskClient, dict[str, str]]) -> None:
    client, headers = api
    mine = send(client, headers, DIALECTS["openai"], {"model": "sora-2", "prompt": "mine"}).json["id"]
    for after in ("a\x00b", "x" * 65, f"{mine}\n"):
        response = client.get("/v1/videos", query_string={"after": after}, headers=headers)
        assert response.status_code == 400 and response.json["error"]["param"] == "after", (after, response.json)
    assert client.get("/v1/videos", query_string={"after": mine}, headers=headers).status_code == 200


def test_odd_but_valid_unicode_is_kept_intact(api: tuple[FlaskClient, dict[str, str]]) -> None:
    client, headers = api
    prompt = "狐狸 🦊 في الثلج — e\u0301 \u202eRTL\u202c ß"
    created = send(client, headers, DIALECTS["openai"], {"model": "sora-2", "prompt": prompt})
    assert created.status_code == 200
    assert client.get(f"/v1/videos/{created.json['id']}", headers=headers).json["prompt"] == prompt


def test_ids_of_other_accounts_and_traversal_are_not_found(api: tuple[FlaskClient, dict[str, str]]) -> None:
    client, headers = api
    mine = send(client, headers, DIALECTS["openai"], {"model": "sora-2", "prompt": "mine"}).json["id"]
    theirs = {"Authorization": f"Bearer {new_token('intruder')}"}
    for path in (f"/v1/videos/{mine}", f"/v1/videos/{mine}/content", f"/v1/video/generations/{mine}",
                 f"/kling/v1/videos/text2video/{mine}"):
        assert client.get(path, headers=theirs).status_code == 404, path
    result = client.post("/jimeng/?Action=CVSync2AsyncGetResult&Version=2022-08-31", headers=theirs,
                         json={"req_key": "sora-2", "task_id": mine})
    assert result.json["data"]["status"] == "not_found"
    for path in ("/v1/videos/..%2F..%2Fetc%2Fpasswd", "/v1/videos/%2e%2e/content", f"/v1/videos/{mine}%00"):
        assert client.get(path, headers=headers).status_code in (404, 405), path
    traversal = client.get(f"/v1/videos/{mine}/content?variant=../../../etc/passwd", headers=headers)
    assert traversal.status_code == 400 and traversal.json["error"]["param"] == "variant"
