"""The Flask front: an app factory that reads like a table of contents."""
from __future__ import annotations

import logging
import time
import uuid

from flask import Flask, Response, g, request
from sqlalchemy.exc import OperationalError

from app.errors import ApiError, register_errorhandlers, render
from app.extensions import api, channels, init_extensions
from app.logs import configure_logging, elapsed_ms
from config.settings import Settings

log = logging.getLogger("vidgate.web")


def create_app(settings: Settings | None = None) -> Flask:
    app = Flask(__name__)
    settings = init_extensions(settings, pre_ping=False)
    configure_app(app, settings)
    configure_logging(settings.log_level, channels.secrets)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_database_errors(app)
    register_request_hooks(app)
    return app


def configure_app(app: Flask, settings: Settings) -> None:
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        API_TITLE="Vidgate",
        API_VERSION="1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]


def register_extensions(app: Flask) -> None:
    api.init_app(app)


def register_blueprints(app: Flask) -> None:
    from app.routes import generations, jimeng, kling, ops, videos

    for module in (videos, generations, kling, jimeng, ops):
        api.register_blueprint(module.blp)


def register_database_errors(app: Flask) -> None:
    """A database that is down or restarting is the gateway's fault, told plainly: 503, try again."""

    @app.errorhandler(OperationalError)
    def _database_down(error: OperationalError) -> Response:
        log.warning("database unavailable", extra={"error": type(error.orig).__name__})
        return render(ApiError(503, "The database is unavailable; retry shortly.", code="database_unavailable",
                               headers={"Retry-After": "5"}))


def register_request_hooks(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        g.request_id = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        log.info("request", extra={
            "request_id": g.get("request_id"), "method": request.method, "path": request.path,
            "status": response.status_code, "ms": elapsed_ms(g.get("started", time.perf_counter())),
            "task_id": g.get("task_id"),
        })
        return response

    @app.teardown_appcontext
    def _close_session(_error: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()
