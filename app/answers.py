"""JSON answers: their bytes, the poll hint, and finished tasks' answers kept per process and served before Flask."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Response, current_app
from werkzeug.exceptions import SecurityError

from app import lifecycle
from app.access import TASK_ID, StartResponse, WsgiApp
from app.auth import trusted_caller
from app.cache import ExpiringCache
from app.extensions import finished_tasks, rate_limiter
from app.serializers import TaskView, base_url, poll_after_ms

ANSWERS_KEPT, ANSWER_SECONDS = 10_000, 300.0  # about 0.6 KB an answer
JSON = "application/json"
Serializer = Callable[[TaskView], dict[str, Any]]


def with_poll_hint(task: TaskView, body: dict[str, Any]) -> tuple[Response, int, dict[str, str]]:
    """The answer, already in its schema's shape (see app.serializers): a ready Response, which flask-smorest
    passes through instead of dumping the body through the schema again."""
    return Response(json_bytes(body), mimetype=JSON), 200, poll_hint(task)


def json_bytes(body: dict[str, Any]) -> bytes:
    """An answer's JSON as `jsonify` renders it outside debug mode (compact, one line), for every answer that is
    rendered here or before Flask (app.creates), so both give the same bytes."""
    return f"{current_app.json.dumps(body, separators=(',', ':'))}\n".encode()


def poll_hint(task: TaskView) -> dict[str, str]:
    return {"openai-poll-after-ms": str(poll_after_ms(task))}


def answer_before_flask(start_response: StartResponse, task: TaskView, body: bytes) -> list[bytes]:
    """A 200 of JSON bytes with the poll hint, from a middleware in front of Flask (FinishedReads, app.creates):
    the headers `with_poll_hint` gives through Flask."""
    start_response("200 OK", [("Content-Type", JSON), ("Content-Length", str(len(body))), *poll_hint(task).items()])
    return [body]


# Finished tasks' answers, as JSON, by serializer, task and base URL. A finished task's answer never changes
# (app.lifecycle.FINAL), and the serializers here are functions of the task and the base URL alone, so a
# process renders each once. Nothing needs dropping on a delete: the row of the task (app.finished) is looked up,
# live and the caller's, before its answer is.
_answers: ExpiringCache[tuple[str, str, str], bytes] = ExpiringCache(ANSWERS_KEPT)


def read_answer(task: TaskView, serialize: Serializer) -> tuple[Response, int, dict[str, str]]:
    """`with_poll_hint(task, serialize(task))` for a read, rendered once per process for a finished task."""
    if task.state not in lifecycle.FINAL:
        return with_poll_hint(task, serialize(task))
    key = (serialize.__name__, task.public_id, base_url())
    body = _answers.get(key)
    if body is None:
        body = json_bytes(serialize(task))
        _answers.put(key, body, ANSWER_SECONDS)
    return Response(body, mimetype=JSON), 200, poll_hint(task)


class FinishedReads:
    """A WSGI middleware in front of Flask: answers `GET <prefix>/<id>` of a finished task whose row and answer
    this process already keeps, for a token it already trusts, with the very bytes and headers the route gave.

    Finished videos are most of what clients read, and for them Flask's request context, routing and response
    objects cost ten times the lookups themselves (BENCHMARKS.md, item 1, session 16). Whatever is not in
    memory, any other method or path, and every error goes on to Flask, so the routes stay the only place that
    decides an answer: this serves again what they rendered (app.finished and `read_answer` above).
    """

    def __init__(self, wsgi_app: WsgiApp, routes: Mapping[str, Serializer]) -> None:
        self.wsgi_app = wsgi_app
        self.routes = dict(routes)  # path prefix (a blueprint's url_prefix) -> the serializer its read answers with

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "GET":
            prefix, _, public_id = environ.get("PATH_INFO", "").rpartition("/")
            serialize = self.routes.get(prefix)
            if serialize is not None:
                kept = self._kept(environ, serialize, public_id)
                if kept is not None:
                    body, task = kept
                    return answer_before_flask(start_response, task, body)
        return self.wsgi_app(environ, start_response)

    @staticmethod
    def _kept(environ: dict[str, Any], serialize: Serializer, public_id: str) -> tuple[bytes, TaskView] | None:
        """The kept answer and row of the read, counted against the token's limit; None: ask Flask."""
        caller = trusted_caller(environ.get("HTTP_AUTHORIZATION", ""))
        if caller is None:
            return None
        task = finished_tasks.get(public_id, caller.account_id)
        if task is None:
            return None
        try:
            body = _answers.get((serialize.__name__, public_id, base_url(environ)))
        except SecurityError:  # a Host werkzeug refuses (TRUSTED_HOSTS; from 3.2 bad characters): Flask's to answer
            return None
        if body is None:
            return None
        if rate_limiter.hit(str(caller.token_id)) is not None:
            return None  # over the limit: the route counts it again (over it still) and answers 429 in its envelope
        environ[TASK_ID] = public_id
        return body, task
