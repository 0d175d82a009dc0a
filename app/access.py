"""Request ids and the access log: a WSGI middleware around the Flask app, one log line per request."""
from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import request

from app.logs import elapsed_ms, write_entry

log = logging.getLogger("vidgate.web")

# WSGI environ keys: the middleware and the routes meet there, not in flask.g, since the middleware writes its
# line after Flask has popped the request's context.
REQUEST_ID = "vidgate.request_id"
STARTED = "vidgate.started"
TASK_ID = "vidgate.task_id"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class AccessLog:
    """Gives every request an id (the client's X-Request-Id, else a new one), answers it in X-Request-Id, and
    writes one line: id, method, path, status, milliseconds to the answer's headers, and the task it was about.

    A middleware rather than Flask's before/after hooks: with nothing but the environ to touch it costs a
    fraction of them, and every request pays it.
    """

    def __init__(self, wsgi_app: WsgiApp) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = environ[STARTED] = time.perf_counter()
        request_id = environ[REQUEST_ID] = environ.get("HTTP_X_REQUEST_ID", "")[:64] or secrets.token_hex(16)
        status = ""

        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal status
            status = status_line
            headers.append(("X-Request-Id", request_id))
            return start_response(status_line, headers, exc_info)

        body = self.wsgi_app(environ, start)
        if log.isEnabledFor(logging.INFO):
            write_entry({
                "ts": round(time.time(), 3), "level": "INFO", "logger": log.name, "message": "request",
                "request_id": request_id, "method": environ.get("REQUEST_METHOD"), "path": environ.get("PATH_INFO"),
                "status": int(status[:3]) if status[:3].isdigit() else None,
                "ms": elapsed_ms(started), "task_id": environ.get(TASK_ID),
            })
        return body


def request_id() -> str:
    """The current request's id, for the envelopes that carry one (Kling, Jimeng)."""
    return request.environ.get(REQUEST_ID, "")


def request_ms() -> float:
    """Milliseconds since the current request arrived (Jimeng's envelope says it)."""
    return elapsed_ms(request.environ.get(STARTED, time.perf_counter()))


def note_task(public_id: str) -> None:
    """Name the task the current request is about, for its log line."""
    request.environ[TASK_ID] = public_id
