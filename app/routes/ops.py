"""Operations routes: liveness, readiness (database and broker) and the Prometheus-free basics."""
from __future__ import annotations

from flask import jsonify
from flask_smorest import Blueprint
from sqlalchemy import text

from app.extensions import celery, db

blp = Blueprint("ops", __name__, description="Health and readiness")


@blp.route("/healthz", methods=["GET"])
def healthz():  # type: ignore[no-untyped-def]
    """200 while the web process is alive; no authentication."""
    return jsonify(status="ok")


@blp.route("/readyz", methods=["GET"])
def readyz():  # type: ignore[no-untyped-def]
    """200 when the database and the broker answer; 503 naming what is down."""
    down = {}
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 (any failure means not ready)
        down["database"] = type(exc).__name__
    try:
        with celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # noqa: BLE001
        down["broker"] = type(exc).__name__
    if down:
        response = jsonify(status="unavailable", down=down,
                           error={"message": f"not ready: {', '.join(down)} down", "type": "service_unavailable",
                                  "param": None, "code": "not_ready"})
        response.status_code = 503
        return response
    return jsonify(status="ready")
