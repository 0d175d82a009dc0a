"""Structured logs: JSON lines carrying ids, with tokens and channel secrets masked wherever they appear."""
from __future__ import annotations

import json
import logging

from app.logs import JsonFormatter


def test_lines_are_json_and_secrets_are_masked() -> None:
    formatter = JsonFormatter(lambda: {"sk-channel-secret"})
    record = logging.LogRecord("vidgate", logging.INFO, __file__, 1, "sent %s with %s", (
        "Bearer vg_abcdefghijklmnopqrstu", "sk-channel-secret"), None)
    record.task_id = "video_1"
    line = formatter.format(record)
    entry = json.loads(line)
    assert entry["task_id"] == "video_1" and entry["level"] == "INFO"
    assert "vg_abcdefghijklmnopqrstu" not in line and "sk-channel-secret" not in line
    assert "[token]" in entry["message"] and "[secret]" in entry["message"]
