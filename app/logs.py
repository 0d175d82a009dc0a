"""Structured logging: one JSON object a line, with request and task ids, and secrets masked."""
from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import queue
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import TextIO

_TOKEN_PATTERN = re.compile(r"(vg_[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9._\-]+)")
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Callable[[], set[str]] = set) -> None:
        super().__init__()
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        """A record as its line: JSON, masked."""
        return self.mask(self.unmasked(record))

    def unmasked(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self.dump(entry)

    @staticmethod
    def dump(entry: dict[str, object]) -> str:
        """An entry as JSON, not masked yet (the writer masks a batch of lines at once)."""
        return json.dumps(entry, default=str)

    def mask(self, text: str) -> str:
        # Masking the rendered line catches secrets wherever they hide: message, extras or a traceback.
        for secret in self._secrets():
            if len(secret) >= 6:
                text = text.replace(secret, "[secret]")
        return _TOKEN_PATTERN.sub("[token]", text)


class _Handoff(logging.Handler):
    """The root logger's handler: hands records to this process's writer thread as they are (the writer's
    JsonFormatter still sees the extras and the exception)."""

    def __init__(self, writer: _Writer) -> None:
        super().__init__()
        self._writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args = record.getMessage(), None  # the arguments as they are now, not when written
        self._writer.put(record)


class _Writer:
    """The one thread of a process that formats and writes its log lines, a batch at a time.

    Threads that log only put the record (or a ready entry, see `put`) on a queue. Writing from each of
    them (a web process has 16) had them queue on the handler's lock around every write to stderr, and taking
    turns on that lock and the GIL cost more than the rest of a status read. The writer lets the lines of a
    burst gather for BATCH_SECONDS and writes them with one call. A forked child starts a writer of its own,
    since threads do not survive a fork; lines still queued when a process exits are written by an atexit hook
    (or `flush_logs`).
    """

    BATCH_SECONDS = 0.02

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[logging.LogRecord | dict[str, object] | None] = queue.SimpleQueue()
        self._stream: TextIO | None = None
        self._formatter = JsonFormatter()
        self._thread: threading.Thread | None = None
        atexit.register(self.stop)
        os.register_at_fork(after_in_child=self._restart_in_child)

    def start(self, stream: TextIO, formatter: JsonFormatter) -> logging.Handler:
        """Write to `stream` with `formatter` from now on; returns the handler the root logger should have."""
        self.stop()
        self._stream, self._formatter = stream, formatter
        self._start_thread()
        return _Handoff(self)

    def put(self, record: logging.LogRecord | dict[str, object]) -> None:
        """Have a record written, or a ready entry (the access log's: one a request, made without a LogRecord as
        the cheapest way)."""
        self._queue.put(record)

    def stop(self) -> None:
        """Write what is queued and end the thread."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._thread = None

    def _restart_in_child(self) -> None:
        # The parent's thread is gone, and its queue may have been locked mid-put by another thread at the fork;
        # the lines already queued are the parent's to write.
        self._queue = queue.SimpleQueue()
        self._start_thread()

    def _start_thread(self) -> None:
        self._thread = None
        if self._stream is not None:
            self._thread = threading.Thread(target=self._run, args=(self._stream,), daemon=True,
                                            name="vidgate-log-writer")
            self._thread.start()

    def _run(self, stream: TextIO) -> None:
        while True:
            batch = [self._queue.get()]
            if batch[0] is not None:  # a stop with nothing queued ends at once, not a batch later
                time.sleep(self.BATCH_SECONDS)
            while not self._queue.empty():
                batch.append(self._queue.get())
            # Masked once for the batch: a line starts with "{", so no secret or token runs from one into the next.
            text = self._formatter.mask("".join(map(self._line, batch)))
            # Should the stream itself fail there is nowhere to say so; the thread lives on for the next batch.
            with contextlib.suppress(Exception):
                stream.write(text)
                stream.flush()
            if None in batch:
                return

    def _line(self, record: logging.LogRecord | dict[str, object] | None) -> str:
        if record is None:
            return ""
        try:
            line = self._formatter.dump(record) if isinstance(record, dict) else self._formatter.unmasked(record)
        except Exception:  # noqa: BLE001 (as logging.Handler does: say so on stderr, go on logging)
            traceback.print_exc()
            return ""
        return line + "\n"


_writer = _Writer()
write_entry = _writer.put
# Writes what is queued; atexit does it, so call it only where a process ends without atexit (os._exit).
flush_logs = _writer.stop


def configure_logging(level: str, secrets: Callable[[], set[str]] = set) -> None:
    root = logging.getLogger()
    root.handlers[:] = [_writer.start(sys.stderr, JsonFormatter(secrets))]
    root.setLevel(level)
    # Werkzeug's access log repeats what our own request log says, in plain text.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
