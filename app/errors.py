"""Client-facing errors and the per-dialect envelopes they are rendered in."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("vidgate.errors")

# The OpenAI `type` for each HTTP status, as the official API uses them.
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
}


class ApiError(Exception):
    """An error the client caused or must hear about; rendered in the envelope of the route's dialect."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}

    @property
    def type(self) -> str:
        return _TYPES.get(self.status, "server_error" if self.status >= 500 else "invalid_request_error")


def bad_field(param: str, message: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, code=code, param=param)


def not_found(what: str = "video", code: str = "not_found") -> ApiError:
    return ApiError(404, f"No {what} found with that id.", code=code)


def openai_envelope(error: ApiError) -> dict[str, Any]:
    return {"error": {"message": error.message, "type": error.type, "param": error.param, "code": error.code}}


# Blueprint name -> envelope renderer. Dialect blueprints register theirs; everything else is OpenAI.
Renderer = Callable[[ApiError], tuple[dict[str, Any], int]]
_renderers: dict[str, Renderer] = {}


def register_renderer(blueprint_name: str, renderer: Renderer) -> None:
    _renderers[blueprint_name] = renderer


def render(error: ApiError) -> Response:
    renderer = _renderers.get(request.blueprint or "")
    if renderer is None:
        body, status = openai_envelope(error), error.status
    else:
        body, status = renderer(error)
    response = jsonify(body)
    response.status_code = status
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def register_errorhandlers(app: Flask) -> None:
    """Every failure leaves as JSON in the dialect's envelope; no HTML page, no stack trace."""

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return render(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if status == 422:  # flask-smorest's validation failure: a bad field to our clients
            messages = getattr(error, "data", {}).get("messages", {})
            param, message = _first_validation_message(messages)
            return render(ApiError(400, message, code="invalid_value", param=param))
        headers = dict(error.get_headers()) if status == 405 else {}
        allow = {"Allow": headers["Allow"]} if "Allow" in headers else None
        code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large", 415: "unsupported_media_type"}
        return render(ApiError(status, error.description or error.name, code=code.get(status), headers=allow))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.path})
        return render(ApiError(500, "The gateway hit an internal error; it has been logged.", code="internal_error"))


def _first_validation_message(messages: Any) -> tuple[str | None, str]:
    """Flatten marshmallow's nested {location: {field: [msg]}} into one (field, message) pair."""
    path: list[str] = []
    node = messages
    while isinstance(node, dict) and node:
        key, node = next(iter(node.items()))
        if key not in ("json", "form", "query", "files", "_schema"):
            path.append(str(key))
    text = node[0] if isinstance(node, list) and node else str(node)
    param = ".".join(path) or None
    return param, f"{param}: {text}" if param else str(text)
