"""The Flask front: an app factory that reads like a table of contents."""
from __future__ import annotations

import logging

from flask import Flask, Response, g
from sqlalchemy.exc import OperationalError

from app.access import AccessLog
from app.answers import FinishedReads
from app.errors import ApiError, register_errorhandlers, render
from app.extensions import api, channels, init_extensions
from app.form_parser import Request
from app.logs import configure_logging
from app.serializers import generation_object, video_object
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
    register_teardown(app)
    register_finished_reads(app)
    register_direct_creates(app)
    register_access_log(app)
    return app


def configure_app(app: Flask, settings: Settings) -> None:
    app.request_class = Request
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


def register_teardown(app: Flask) -> None:
    @app.teardown_appcontext
    def _close_session(_error: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


def register_finished_reads(app: Flask) -> None:
    """Status reads of finished tasks this process has answered before are answered again without Flask."""
    from app.routes import generations, videos

    app.wsgi_app = FinishedReads(app.wsgi_app, {  # type: ignore[method-assign]
        videos.blp.url_prefix: video_object, generations.blp.url_prefix: generation_object})


def register_direct_creates(app: Flask) -> None:
    """Creates from trusted tokens run without Flask's dispatch; what they raise comes back to Flask to render."""
    from app.creates import DirectCreates, raise_direct_failure
    from app.routes import generations, videos

    app.before_request(raise_direct_failure)
    app.wsgi_app = DirectCreates(app, app.wsgi_app, {  # type: ignore[method-assign]
        videos.blp.url_prefix: videos.create, generations.blp.url_prefix: generations.create})


def register_access_log(app: Flask) -> None:
    app.wsgi_app = AccessLog(app.wsgi_app)  # type: ignore[method-assign]
