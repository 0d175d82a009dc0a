"""The ceiling: a trivial Flask app served by the web front's own gunicorn flags (`bench.trivial_app:app`).

Besides the trivial routes it has "floor" routes: no framework logic at all, only the round trips of an
authenticated, rate-limited route done the plain way (one PostgreSQL statement and one Redis INCR per request),
on raw psycopg2 and redis-py. They show how much of the gap to the ceiling is the round trips themselves.
"""
from __future__ import annotations

import os
import threading

import psycopg2
import redis
from flask import Flask, Response, jsonify, request

app = Flask(__name__)

# About the size of a Video object, so both sides move similar bytes per response.
_BODY = {"id": "video_" + "0" * 32, "object": "video", "model": "sora-2", "status": "queued", "progress": 0,
         "created_at": 1700000000, "completed_at": None, "expires_at": None, "seconds": "4", "size": "1280x720",
         "prompt": "a trivial answer of about the size of a video object", "remixed_from_video_id": None,
         "error": None, "metadata": None, "task_id": "video_" + "0" * 32}

_local = threading.local()
_setup = threading.Lock()  # concurrent CREATE TABLE IF NOT EXISTS can still collide in PostgreSQL's catalog
_redis = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
FLOOR_TABLE = "CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, body text NOT NULL)"


def _cursor() -> psycopg2.extensions.cursor:
    """A cursor on this thread's own autocommit connection (no BEGIN, no ROLLBACK: one round trip a statement)."""
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = _local.connection = psycopg2.connect(os.environ["DATABASE_URL"])
        connection.autocommit = True
        with _setup, connection.cursor() as cursor:
            cursor.execute(FLOOR_TABLE)
    return connection.cursor()


@app.get("/ping")
def ping() -> Response:
    return jsonify(_BODY)


@app.post("/ping")
def ping_post() -> Response:
    request.get_data()  # read the whole body, as the real create route must
    return jsonify(_BODY)


@app.get("/floor/<public_id>")
def floor_read(public_id: str) -> Response:
    """A status read's unavoidable round trips: the row by its unique id, and the rate limiter's INCR."""
    with _cursor() as cursor:
        cursor.execute("SELECT public_id, state, progress, created_at FROM tasks WHERE public_id = %s", (public_id,))
        cursor.fetchone()
    _redis.incr("bench:floor")
    return jsonify(_BODY)


@app.post("/floor")
def floor_write() -> Response:
    """A create's unavoidable round trips: one committed INSERT of the body, and the rate limiter's INCR."""
    with _cursor() as cursor:
        cursor.execute("INSERT INTO bench_floor (body) VALUES (%s)", (request.get_data(as_text=True),))
    _redis.incr("bench:floor")
    return jsonify(_BODY)
