"""Structured logging: one JSON object a line, with request and task ids, and secrets masked."""
from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable

_TOKEN_PATTERN = re.compile(r"(vg_[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9._\-]+)")
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Callable[[], set[str]] = set) -> None:
        super().__init__()
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self.mask(json.dumps(entry, default=str))

    def mask(self, text: str) -> str:
        # Masking the rendered line catches secrets wherever they hide: message, extras or a traceback.
        for secret in self._secrets():
            if len(secret) >= 6:
                text = text.replace(secret, "[secret]")
        return _TOKEN_PATTERN.sub("[token]", text)


def configure_logging(level: str, secrets: Callable[[], set[str]] = set) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Werkzeug's access log repeats what our own request log says, in plain text.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
