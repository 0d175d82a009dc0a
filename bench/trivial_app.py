"""The ceiling: a trivial Flask app served by the web front's own gunicorn flags (`bench.trivial_app:app`)."""
from __future__ import annotations

from flask import Flask, Response, jsonify, request

app = Flask(__name__)

# About the size of a Video object, so both sides move similar bytes per response.
_BODY = {"id": "video_" + "0" * 32, "object": "video", "model": "sora-2", "status": "queued", "progress": 0,
         "created_at": 1700000000, "completed_at": None, "expires_at": None, "seconds": "4", "size": "1280x720",
         "prompt": "a trivial answer of about the size of a video object", "remixed_from_video_id": None,
         "error": None, "metadata": None, "task_id": "video_" + "0" * 32}


@app.get("/ping")
def ping() -> Response:
    return jsonify(_BODY)


@app.post("/ping")
def ping_post() -> Response:
    request.get_data()  # read the whole body, as the real create route must
    return jsonify(_BODY)
