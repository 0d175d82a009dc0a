"""Creates from tokens a process already trusts, run before Flask's dispatch; their errors still rendered by Flask."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask, Request, request

from app.access import StartResponse, WsgiApp
from app.answers import answer_before_flask, json_bytes
from app.auth import Caller, trusted_caller
from app.routes import within_limit
from app.serializers import TaskView
from app.submission import IDEMPOTENCY_HEADER

# WSGI environ key: the error of a create run here, for Flask to raise again and render (raise_direct_failure).
FAILED = "vidgate.create_error"
IDEMPOTENCY_ENVIRON = "HTTP_" + IDEMPOTENCY_HEADER.upper().replace("-", "_")

# A create route's whole work (videos.create, generations.create): the task written and its answer's body.
Create = Callable[[Caller, Request], tuple[TaskView, dict[str, Any]]]


class DirectCreates:
    """A WSGI middleware in front of Flask: `POST <prefix>` of a create route, from a token this process already
    trusts, runs the route's own work (`create(caller, request)`) in an application context, without Flask's
    request context, URL matching, view wrappers and response objects.

    A create is the request clients send most after a status read, and Flask's share of it was a fifth of its
    CPU in process (BENCHMARKS.md, item 1, session 17). A request it does not take goes on to Flask untouched: an
    unknown token (authenticated there, and trusted from then on), and an `Idempotency-Key`, whose replay may
    answer a finished video with a URL made from the request's host, a request context's. Once it takes a
    request, whatever it raises (the rate limit's 429, a bad field, the database down) goes to Flask with the
    request, which raises it again before any route runs (`raise_direct_failure`) and renders it as the route's
    own error: the same envelope, and nothing counted, stored or written twice.
    """

    def __init__(self, app: Flask, wsgi_app: WsgiApp, routes: Mapping[str, Create]) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.routes = dict(routes)  # path (a blueprint's url_prefix) -> its create

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        create = self.routes.get(environ.get("PATH_INFO", "")) if environ["REQUEST_METHOD"] == "POST" else None
        who = None if create is None or IDEMPOTENCY_ENVIRON in environ else trusted_caller(
            environ.get("HTTP_AUTHORIZATION", ""))
        if who is None:
            return self.wsgi_app(environ, start_response)
        # Not put in the environ: a request and its environ pointing at each other are garbage only the cycle
        # collector frees, and collecting one a create was nine tenths of a web worker's time in the collector.
        req = self.app.request_class(environ, populate_request=False)
        try:
            with self.app.app_context():  # the body limits are the app's config; current_app and g as in a route
                task, body = create(within_limit(who), req)
                answer = json_bytes(body)
        except Exception as error:  # noqa: BLE001 - handed to Flask, which renders it (see the class docstring)
            environ[FAILED] = error
            return self.wsgi_app(environ, start_response)
        finally:
            req.close()  # uploaded files, as Flask closes them at the end of a request
        return answer_before_flask(start_response, task, answer)


def raise_direct_failure() -> None:
    """Flask's first step for a create that failed in DirectCreates: its error, raised for the error handlers."""
    error = request.environ.pop(FAILED, None)
    if error is not None:
        raise error
