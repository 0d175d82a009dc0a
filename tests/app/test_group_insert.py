"""Concurrent inserts grouped into one statement: each caller gets its own row, conflict or error, on both databases."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Column, Float, ForeignKey, Integer, MetaData, String, Table, event, select, text
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from app import db as db_module
from app.db import Database, closed_by_server
from app.group_insert import GroupInsert, _Pending

metadata = MetaData()
owners = Table("owners", metadata, Column("id", Integer, primary_key=True))
items = Table(
    "items", metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(32), unique=True, nullable=False),  # each caller's own, as a task's public id
    Column("name", String(32), unique=True),  # may be taken, as an idempotency key
    Column("owner_id", ForeignKey("owners.id"), nullable=False),
    Column("tags", JSON),  # written as SQLAlchemy writes JSON
    Column("rank", Integer, default=7),  # a scalar default, taken when a row leaves the column out
    Column("stamp", Float, default=time.time),  # a computed default: every row must give it
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = (request.getfixturevalue("postgres_url") if request.param == "postgresql"
           else f"sqlite:///{tmp_path / 'items.db'}")
    with items_database(url) as database:
        yield database


@contextmanager
def items_database(url: str) -> Iterator[Database]:
    """A Database at `url` with the tables above and owner 1, its engines disposed afterwards."""
    database = Database()
    database.init(url)
    metadata.create_all(database.engine)
    with database.autocommit() as connection:
        connection.execute(owners.insert(), [{"id": 1}])
    yield database
    for engine in (database.engine, database._autocommit_engine):
        engine.dispose()  # type: ignore[union-attr]


class Statements:
    """The statements a group writes, with how many rows each carried; `hold()` keeps the next one waiting."""

    def __init__(self, group: GroupInsert) -> None:
        self.rows: list[int] = []
        self.held = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self._execute = group._execute
        group._execute = self._held_execute  # type: ignore[method-assign]

    def hold(self) -> None:
        self.release.clear()

    def _held_execute(self, rows: list[dict[str, Any]]) -> list[Any]:
        self.rows.append(len(rows))
        self.held.set()
        self.release.wait(10)
        return self._execute(rows)


class Inserts:
    """Rows inserted each from a thread of its own, started at once; `wait()` gives each thread's row (or None), or
    the exception it raised."""

    def __init__(self, group: GroupInsert, rows: list[dict[str, Any]]) -> None:
        self.results: list[Any] = [None] * len(rows)
        self.threads = [threading.Thread(target=self._insert, args=(group, index, values))
                        for index, values in enumerate(rows)]
        for thread in self.threads:
            thread.start()

    def _insert(self, group: GroupInsert, index: int, values: dict[str, Any]) -> None:
        try:
            self.results[index] = group.insert(values)
        except Exception as error:  # noqa: BLE001 - the test looks at it
            self.results[index] = error

    def wait(self) -> list[Any]:
        for thread in self.threads:
            thread.join(10)
        assert not any(thread.is_alive() for thread in self.threads)
        return self.results


def while_held(statements: Statements, group: GroupInsert, rows: list[dict[str, Any]]) -> tuple[Any, list[Any]]:
    """Insert a row "first" and hold its statement; insert `rows` meanwhile, from threads of their own, and let the
    first go once all of them wait in the queue. The first's row and the others' results."""
    statements.hold()
    first = Inserts(group, [row("first")])
    assert statements.held.wait(10)
    others = Inserts(group, rows)
    for _ in range(2000):
        if len(group._queue) == len(rows):
            break
        time.sleep(0.005)
    assert len(group._queue) == len(rows)
    statements.release.set()
    return first.wait()[0], others.wait()


def row(key: str, owner_id: int = 1, name: str | None = None) -> dict[str, Any]:
    return {"key": key, "name": name, "owner_id": owner_id, "stamp": time.time()}


def new_group(database: Database, max_rows: int = 200) -> GroupInsert:
    return GroupInsert(items, "key", lambda: database.autocommit_engine, max_rows=max_rows)


def ids(database: Database, keys: list[str]) -> dict[str, int]:
    with database.autocommit() as connection:
        return dict(connection.execute(select(items.c.key, items.c.id).where(items.c.key.in_(keys))).all())


def test_a_row_alone_is_written_at_once_and_its_own_returned(database: Database) -> None:
    group = new_group(database)
    statements = Statements(group)
    assert group.insert(row("a", name="taken")) == "a"
    assert ids(database, ["a"])["a"] > 0
    assert group.insert(row("b", name="taken")) is None  # the name is taken: not written, not an error
    assert statements.rows == [1, 1]


def test_rows_arriving_during_a_write_go_together_in_the_next_statement(database: Database) -> None:
    group = new_group(database)
    statements = Statements(group)
    first, results = while_held(statements, group, [row(f"k{n}") for n in range(10)])
    assert statements.rows == [1, 10]  # all ten waited behind the write under way, then went in one statement
    assert results == [f"k{n}" for n in range(10)]
    assert first == "first"
    assert len(set(ids(database, results).values())) == 10
    assert not group._writing and group._queue == []


def test_a_group_is_at_most_max_rows_and_the_rest_follows(database: Database) -> None:
    group = new_group(database, max_rows=3)
    statements = Statements(group)
    _, results = while_held(statements, group, [row(f"k{n}") for n in range(7)])
    assert statements.rows == [1, 3, 3, 1]
    assert sorted(results) == sorted(f"k{n}" for n in range(7))


def test_within_a_group_a_taken_name_is_none_for_its_caller_only(database: Database) -> None:
    group = new_group(database)
    statements = Statements(group)
    group.insert(row("earlier", name="taken"))
    batch = [row("a", name="taken"), row("b", name="new"), row("c", name="twice"), row("d", name="twice")]
    _, results = while_held(statements, group, batch)
    assert statements.rows[-1] == 4
    assert results[0] is None and results[1] == "b"
    assert sorted(result is None for result in results[2:]) == [False, True]  # one of the two wins


def test_a_row_breaking_another_constraint_fails_alone(database: Database) -> None:
    group = new_group(database)
    statements = Statements(group)
    _, results = while_held(statements, group, [row("good-1"), row("orphan", owner_id=999), row("good-2")])
    assert statements.rows[1:] == [3, 1, 1, 1]  # the group fails, then each row is written alone
    assert results[0] == "good-1" and results[2] == "good-2"
    assert isinstance(results[1], IntegrityError)
    assert not group._writing


def test_a_failing_database_reaches_every_caller_of_the_group_and_nothing_is_left_stuck(database: Database) -> None:
    missing = Table("no_such_table", MetaData(), Column("key", String(32), primary_key=True), Column("name", String),
                    Column("owner_id", Integer), Column("stamp", Float))
    failing = GroupInsert(missing, "key", lambda: database.autocommit_engine)
    results = Inserts(failing, [row("a"), row("b"), row("c")]).wait()
    assert all(isinstance(result, OperationalError | ProgrammingError) for result in results)
    assert not failing._writing and failing._queue == []
    assert database.autocommit_engine.pool.checkedout() == 0  # a connection that failed a statement is not kept
    with pytest.raises((OperationalError, ProgrammingError)):
        failing.insert(row("again"))  # answered again, not left waiting for a write that will never come
    assert new_group(database).insert(row("after")) == "after"


def test_an_error_while_a_failed_group_is_written_row_by_row_reaches_only_its_own_row(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = new_group(database)
    real_execute, calls = group._execute, []

    def execute(rows: list[dict[str, Any]]) -> list[Any]:
        calls.append([values["key"] for values in rows])
        if len(calls) == 1:
            raise IntegrityError("INSERT", {}, Exception("a constraint of one of the rows"))
        if calls[-1] == ["b"]:
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        return real_execute(rows)

    monkeypatch.setattr(group, "_execute", execute)
    pending = [_Pending(row(key)) for key in "abc"]
    group._write(pending)
    assert calls == [["a", "b", "c"], ["a"], ["b"], ["c"]]
    assert pending[0].result() == "a" and pending[2].result() == "c"  # written: not told otherwise
    with pytest.raises(OperationalError):
        pending[1].result()


def test_values_reach_the_driver_as_sqlalchemy_would_send_them(database: Database) -> None:
    group = new_group(database)
    assert group.insert({**row("j"), "tags": {"colour": "red", "sizes": [1, 2]}}) == "j"
    assert group.insert({**row("k"), "tags": None, "rank": 3}) == "k"
    with database.autocommit() as connection:
        written = {r.key: r for r in connection.execute(select(items).where(items.c.key.in_(["j", "k"])))}
    assert written["j"].tags == {"colour": "red", "sizes": [1, 2]} and written["j"].rank == 7  # the default
    assert written["k"].tags is None and written["k"].rank == 3


def test_a_row_without_a_computed_default_or_with_a_stranger_column_is_refused(database: Database) -> None:
    group = new_group(database)
    without_stamp = row("s")
    del without_stamp["stamp"]
    with pytest.raises(ValueError, match="stamp"):
        group.insert(without_stamp)
    with pytest.raises(ValueError, match="colour"):
        group.insert({**row("t"), "colour": "red"})
    assert not group._writing and ids(database, ["s", "t"]) == {}


def checkouts(database: Database) -> list[int]:
    """Grows by one each time the group's engine hands out a connection."""
    counted: list[int] = []
    event.listen(database.autocommit_engine, "checkout", lambda *_: counted.append(1))
    return counted


def test_writes_in_a_stream_share_one_connection_and_one_after_a_pause_checks_out_again(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    group, counted = new_group(database), checkouts(database)
    assert [group.insert(row(key)) for key in "abc"] == ["a", "b", "c"]
    assert len(counted) == 1 and database.autocommit_engine.pool.checkedout() == 1
    monkeypatch.setattr(db_module, "HOLD_SECONDS", 0.0)
    assert group.insert(row("d")) == "d"
    assert len(counted) == 2 and database.autocommit_engine.pool.checkedout() == 1  # the old one given back


def test_a_held_connection_the_server_closed_is_replaced_before_it_is_used(postgres_url: str) -> None:
    with items_database(postgres_url) as database:
        group = new_group(database)
        assert group.insert(row("before")) == "before"
        held = group._connection._held[0].dbapi_connection  # type: ignore[index]
        backend = held.get_backend_pid()
        with database.autocommit() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        deadline = time.monotonic() + 10
        while not closed_by_server(held) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert closed_by_server(held)
        assert group.insert(row("after")) == "after"  # not the 503 of a dead connection
        assert group._connection._held[0].dbapi_connection.get_backend_pid() != backend  # type: ignore[index]
        assert set(ids(database, ["before", "after"])) == {"before", "after"}


def test_a_forked_child_neither_uses_nor_gives_back_its_parents_connection(database: Database) -> None:
    group = new_group(database)
    group.insert(row("a"))
    parents = group._connection._held[0]  # type: ignore[index]
    group._reset()  # what runs in a forked child
    assert group._connection._held is None and db_module._INHERITED[-1] is parents
    assert database.autocommit_engine.pool.checkedout() == 1  # not handed to this process's copy of the pool
    db_module._INHERITED.pop().close()


@pytest.mark.parametrize("url", ["postgresql+psycopg2://postgres@127.0.0.1:1/nowhere", "sqlite:////no/such/folder/items.db"])
def test_a_database_that_cannot_be_reached_is_sqlalchemys_operational_error(url: str) -> None:
    unreachable = Database()
    unreachable.init(url)
    group = GroupInsert(items, "key", lambda: unreachable.autocommit_engine)
    with pytest.raises(OperationalError):  # what the web front answers with 503 database_unavailable
        group.insert(row("a"))
    assert not group._writing and group._queue == []
