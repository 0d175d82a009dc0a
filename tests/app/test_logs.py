"""Structured logs: JSON lines carrying ids, with tokens and channel secrets masked wherever they appear."""
from __future__ import annotations

import io
import json
import logging
import os

from app.logs import JsonFormatter, _Writer


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


def test_the_writer_writes_records_and_entries_in_order_and_flushes_on_stop() -> None:
    stream = io.StringIO()
    writer = _Writer()
    handler = writer.start(stream, JsonFormatter(lambda: {"sk-channel-secret"}))
    logger = logging.getLogger("vidgate.test-writer")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("first with %s", "sk-channel-secret")
        writer.put({"message": "second", "path": "/v1/videos/vg_abcdefghijklmnopqrstu"})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("third")
    finally:
        writer.stop()
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["first with [secret]", "second", "third"]
    assert lines[1]["path"] == "/v1/videos/[token]" and "ValueError: boom" in lines[2]["exception"]


def test_a_forked_child_has_a_writer_of_its_own() -> None:
    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "w")
    writer = _Writer()
    handler = writer.start(stream, JsonFormatter())
    child = os.fork()
    if child == 0:  # the child: log through the writer it inherited, then flush it and leave
        record = logging.LogRecord("child", logging.INFO, __file__, 1, "from the child", None, None)
        handler.handle(record)
        writer.stop()
        os._exit(0)
    os.waitpid(child, 0)
    writer.stop()
    stream.close()
    with os.fdopen(read_end) as output:
        assert json.loads(output.read())["message"] == "from the child"
