"""Rows that a process's threads insert at the same time, written together: one multi-row INSERT, one commit."""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import Insert

# Far more than a web process has threads (so every row waiting is taken at once) and far below PostgreSQL's
# 65,535 parameters a statement (a task row has about 25).
MAX_ROWS = 200


class _Pending:
    """One thread's row, waiting to be written; `leads` when it is that thread's turn to write a group."""

    __slots__ = ("values", "row", "error", "done", "leads")

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.row: Row[Any] | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.leads = False

    def result(self) -> Row[Any] | None:
        if self.error is not None:
            raise self.error
        return self.row


class GroupInsert:
    """Insert rows with `INSERT ... ON CONFLICT DO NOTHING RETURNING`, those of concurrent callers in one statement.

    Group commit without a thread of its own: a caller that finds no write under way writes its row at once; rows
    that arrive meanwhile queue, and when the write ends the first of them is woken to write them all, in one
    statement. Under load each statement, round trip and commit carries many rows (the database's per-statement
    work, and SQLAlchemy's, paid once for all of them); alone, a row is written as it comes, with no added wait.

    `statement(dialect_name)` gives the INSERT for a database (`ON CONFLICT` is spelled per dialect); it must
    return `key`, a column whose value each caller makes its own (a new random id): it tells which row is whose.
    A row that conflicts with a unique key is not written and its caller gets None. If a group fails on another
    constraint, its rows are written one by one so that only the offending row's caller sees the error; any other
    error (the database unreachable) reaches every caller.
    """

    def __init__(self, statement: Callable[[str], Insert], key: str,
                 connect: Callable[[], AbstractContextManager[Connection]], max_rows: int = MAX_ROWS) -> None:
        self._statement = statement
        self._statements: dict[str, Insert] = {}
        self._key = key
        self._connect = connect
        self._max_rows = max_rows
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a child starts with none of its parent's waiting rows

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._writing = False  # invariant: rows queue only while a write is under way

    def insert(self, values: dict[str, Any]) -> Row[Any] | None:
        """Insert one row; its RETURNING row, or None if it conflicted with a unique key."""
        pending = _Pending(values)
        with self._lock:
            self._queue.append(pending)
            waits, self._writing = self._writing, True
        if waits:
            pending.done.wait()
            if not pending.leads:
                return pending.result()
        self._write_group()
        return pending.result()

    def _write_group(self) -> None:
        """Write the queued rows (the caller's first among them), then hand the next group to its first row."""
        with self._lock:
            group, self._queue = self._queue[:self._max_rows], self._queue[self._max_rows:]
        try:
            self._write(group)
        except BaseException as error:  # noqa: BLE001 - handed to every caller of the group, re-raised there
            for pending in group:
                pending.error = error
        finally:
            with self._lock:
                if self._queue:
                    self._queue[0].leads = True
                    self._queue[0].done.set()
                else:
                    self._writing = False
            for pending in group:
                pending.done.set()

    def _write(self, group: list[_Pending]) -> None:
        try:
            rows = self._execute([pending.values for pending in group])
        except IntegrityError:
            if len(group) == 1:
                raise
            for pending in group:  # find the offending row: only its caller gets the error
                try:
                    self._write([pending])
                except Exception as error:  # noqa: BLE001 - its own error; the rows written before it stay written
                    pending.error = error
            return
        written = {getattr(row, self._key): row for row in rows}
        for pending in group:
            pending.row = written.get(pending.values[self._key])

    def _execute(self, rows: list[dict[str, Any]]) -> list[Row[Any]]:
        with self._connect() as connection:
            dialect = connection.dialect.name
            statement = self._statements.get(dialect)
            if statement is None:
                statement = self._statements[dialect] = self._statement(dialect)
            # A list of parameter sets: SQLAlchemy writes them as one multi-row INSERT ("insertmanyvalues").
            return list(connection.execute(statement, rows).all())
