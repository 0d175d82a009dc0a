"""Rows that a process's threads insert at the same time, written together: one multi-row INSERT, one commit."""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, KeysView
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from app.db import COMPUTED, HeldConnection, column_default, on_driver

# Far more than a web process has threads (so every row waiting is taken at once) and far below PostgreSQL's
# 65,535 parameters a statement (a task row has about 25).
MAX_ROWS = 200


class _Pending:
    """One thread's row, waiting to be written; `leads` when it is that thread's turn to write a group."""

    __slots__ = ("values", "row", "error", "done", "leads")

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.row: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.leads = False

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.row


class GroupInsert:
    """Insert rows with `INSERT ... ON CONFLICT DO NOTHING RETURNING key`, those of concurrent callers in one statement.

    Group commit without a thread of its own: a caller that finds no write under way writes its row at once; rows
    that arrive meanwhile queue, and when the write ends the first of them is woken to write them all, in one
    statement. Under load each statement, round trip and commit carries many rows (the database's per-statement
    work paid once for all of them); alone, a row is written as it comes, with no added wait.

    `key` is a column whose value each caller makes its own (a new random id): it tells which row is whose. A row
    that conflicts with a unique key is not written and its caller gets None. If a group fails on another
    constraint, its rows are written one by one so that only the offending row's caller sees the error; any other
    error (the database unreachable) reaches every caller. Errors are SQLAlchemy's (IntegrityError,
    OperationalError, ...), as if SQLAlchemy had run the statement.

    The statement goes to the driver as it is, on a connection of `engine()`'s pool (an autocommit engine) kept
    between writes (app.db.HeldConnection): for a row written alone, SQLAlchemy's execution of the same INSERT
    (its Connection, result and insertmanyvalues machinery) took 308 us of a create's 716 us of CPU, this way
    165 us. The rows of a GroupInsert give the same columns; a column a row leaves out takes its scalar default
    (a computed default must be given).
    """

    def __init__(self, table: Table, key: str, engine: Callable[[], Engine], max_rows: int = MAX_ROWS) -> None:
        self._table = table
        self._key = key
        self._engine = engine
        self._plans: dict[tuple[str, tuple[str, ...]], _Plan] = {}
        self._max_rows = max_rows
        self._connection = HeldConnection()  # writes are one at a time, so one connection serves them all
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a child starts with none of its parent's waiting rows

    def _reset(self) -> None:
        self._connection.forget()
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._writing = False  # invariant: rows queue only while a write is under way

    def insert(self, values: dict[str, Any]) -> Any:
        """Insert one row; its key, or None if it conflicted with a unique key."""
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
            keys = self._execute([pending.values for pending in group])
        except IntegrityError:
            if len(group) == 1:
                raise
            for pending in group:  # find the offending row: only its caller gets the error
                try:
                    self._write([pending])
                except Exception as error:  # noqa: BLE001 - its own error; the rows written before it stay written
                    pending.error = error
            return
        written = set(keys)
        for pending in group:
            key = pending.values[self._key]
            pending.row = key if key in written else None

    def _execute(self, rows: list[dict[str, Any]]) -> list[Any]:
        """Write the rows in one statement; the keys of those written."""
        engine = self._engine()
        plan = self._plan(engine.dialect, rows[0])
        params: list[Any] = []
        for values in rows:
            if values.keys() - plan.names:
                raise ValueError(f"not columns of {self._table.name}: {sorted(values.keys() - plan.names)}")
            for name, default, process in plan.columns:
                value = values.get(name, default)
                params.append(process(value) if process is not None else value)
        keys, _ = on_driver(engine, plan.statement(len(rows)), params, held=self._connection)
        return [key for (key,) in keys]

    def _plan(self, dialect: Any, values: dict[str, Any]) -> _Plan:
        plan_key = (dialect.name, tuple(values))
        plan = self._plans.get(plan_key)
        if plan is None:
            plan = self._plans[plan_key] = _Plan(self._table, self._key, dialect, values.keys())
        return plan


class _Plan:
    """How rows giving a set of columns are written to one database: each column's default and bind processor
    (the driver gets what SQLAlchemy would give it: JSON as text, ...), and the statement for each row count."""

    def __init__(self, table: Table, key: str, dialect: Any, given: KeysView[str]) -> None:
        if dialect.paramstyle not in ("qmark", "format", "pyformat"):
            raise NotImplementedError(f"GroupInsert does not speak the {dialect.paramstyle} parameter style")
        self.columns: list[tuple[str, Any, Callable[[Any], Any] | None]] = []
        for column in table.columns:
            default = column_default(column)
            if column.name not in given:
                if default is COMPUTED:
                    raise ValueError(f"{table.name}.{column.name} has a computed default: give it")
                if column.default is None:
                    continue  # left to the database (NULL, or the primary key's sequence)
            self.columns.append((column.name, None if default is COMPUTED else default,
                                 column.type.dialect_impl(dialect).bind_processor(dialect)))
        self.names = frozenset(name for name, _default, _process in self.columns)
        quote = dialect.identifier_preparer.quote
        self._mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self._head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name, *_ in self.columns)}) VALUES "
        self._tail = f" ON CONFLICT DO NOTHING RETURNING {quote(key)}"
        self._statements: dict[int, str] = {}

    def statement(self, count: int) -> str:
        """The INSERT of `count` rows (made once per count: at most MAX_ROWS of them)."""
        statement = self._statements.get(count)
        if statement is None:
            row = f"({', '.join([self._mark] * len(self.columns))})"
            statement = self._statements[count] = f"{self._head}{', '.join([row] * count)}{self._tail}"
        return statement
