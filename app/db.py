"""Database engine and sessions, shared by the web front and the workers."""
from __future__ import annotations

import select
import time
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Select, create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection, QueuePool

# Without pre-ping, pooled connections are replaced after this many seconds, well inside the idle timeouts of
# NAT gateways and load balancers (AWS NLB: 350 s) that drop a connection without telling either end.
RECYCLE_SECONDS = 300
# `column_default` of a column whose default is computed by SQLAlchemy at INSERT time (a timestamp).
COMPUTED = object()


class Database:
    """Created empty in `app.extensions`, bound to a URL once settings are known (init_app style)."""

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._autocommit_engine: Engine | None = None
        self._options = (True, 0)  # (pre_ping, pool_size) of the engines
        self._sessionmaker: sessionmaker[Session] | None = None

    def init(self, url: str, *, pre_ping: bool = True, pool_size: int = 16) -> None:
        """`pre_ping=False` is for the web front (see make_engine)."""
        if self._engine is not None and str(self._engine.url) == url and self._options == (pre_ping, pool_size):
            return
        for engine in (self._engine, self._autocommit_engine):
            if engine is not None:
                engine.dispose()
        self._engine, self._options = make_engine(url, pre_ping=pre_ping, pool_size=pool_size), (pre_ping, pool_size)
        # A pool of its own: switching a pooled connection to autocommit and back costs psycopg2 a round trip
        # (SET default_transaction_isolation) each time. Connections are opened only once it is used.
        self._autocommit_engine = make_engine(url, pre_ping=pre_ping, autocommit=True, pool_size=pool_size)
        self._sessionmaker = sessionmaker(self._engine, expire_on_commit=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("database not initialised: call init_extensions(settings) first")
        return self._engine

    @property
    def autocommit_engine(self) -> Engine:
        """The engine of `autocommit()`, for code that talks to the driver itself (app.group_insert)."""
        if self._autocommit_engine is None:
            raise RuntimeError("database not initialised: call init_extensions(settings) first")
        return self._autocommit_engine

    def session(self) -> Session:
        if self._sessionmaker is None:
            raise RuntimeError("database not initialised: call init_extensions(settings) first")
        return self._sessionmaker()

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection on which each statement commits by itself: one round trip a statement, no BEGIN and no
        ROLLBACK at the end; for the web's single-statement reads and inserts."""
        with self.autocommit_engine.connect() as connection:
            yield connection

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error; used by workers and the CLI."""
        with self.session() as session, session.begin():
            yield session


def make_engine(url: str, *, pre_ping: bool = True, autocommit: bool = False, pool_size: int = 16) -> Engine:
    """An engine for `url`, in autocommit mode if asked. PostgreSQL connections are checked before each use: by
    default with a `SELECT 1` (pre-ping), which workers keep since a step must not fail on a connection a
    database restart left dead; with `pre_ping=False` (the web front) by a look at the socket instead, which
    costs no round trip."""
    options: dict[str, Any] = {}
    if autocommit:
        # Nothing to roll back when a connection goes back to the pool: every statement has committed already.
        options.update(isolation_level="AUTOCOMMIT", pool_reset_on_return=None)
    if url.startswith("sqlite"):
        # Several processes share one file in the embedded default: WAL lets readers run beside the one
        # writer, and a generous busy timeout makes writers queue instead of failing with "locked".
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **options)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # Bursts beyond `pool_size` get extra connections, closed again when given back.
    options.update(pool_size=pool_size, max_overflow=pool_size)
    if pre_ping:
        return create_engine(url, pool_pre_ping=True, **options)
    engine = create_engine(url, pool_recycle=RECYCLE_SECONDS, **options)
    event.listen(engine, "checkout", _replace_if_closed_by_server)
    return engine


def _replace_if_closed_by_server(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Make the pool open a fresh connection in place of one the server has closed while it sat idle.

    PostgreSQL sends nothing to an idle client except its goodbye (restart, pg_terminate_backend, idle
    timeout), so anything readable on the socket means the connection is gone. A connection that dies
    later still fails its request with the 503 `database_unavailable`, and SQLAlchemy then replaces it.
    """
    if closed_by_server(dbapi_connection):
        raise DisconnectionError("the server closed this pooled connection")


def closed_by_server(dbapi_connection: Any) -> bool:
    """Whether the server has said goodbye on an idle connection (see _replace_if_closed_by_server); False for a
    driver without a socket (SQLite)."""
    fileno = getattr(dbapi_connection, "fileno", None)
    if fileno is None:
        return False
    poller = select.poll()
    poller.register(fileno(), select.POLLIN)
    return bool(poller.poll(0))


def column_default(column: Any) -> Any:
    """The value a column takes when an INSERT leaves it out: its scalar default, None without one, or COMPUTED."""
    default = column.default
    if default is None:
        return None
    return default.arg if default.is_scalar else COMPUTED


def on_driver(engine: Engine, statement: str, params: Sequence[Any] | Mapping[str, Any],
              held: HeldConnection | None = None) -> tuple[list[Any], Sequence[Any] | None]:
    """Run one statement through the driver itself, on a connection from `engine`'s pool: the rows it returns and
    the cursor's description of their columns (None for a statement that returns none).

    For the web's hottest statements, where SQLAlchemy's execution machinery (its Connection, compiled cache,
    result objects) costs more CPU than the driver's own work. The pool's checks at checkout still run; errors
    come out as SQLAlchemy's, as if it had run the statement, and a connection found dead is invalidated rather
    than given back to the pool. With `held`, the connection it keeps is used if it has one, and the connection
    is kept there afterwards instead of being given back (see HeldConnection).
    """
    dialect = engine.dialect
    connection = held.take(engine) if held is not None else None
    try:
        if connection is None:
            connection = engine.raw_connection()  # the driver's own error if it cannot connect: translated below
        cursor = connection.cursor()
        try:
            cursor.execute(statement, params)
            description = cursor.description
            rows = cursor.fetchall() if description is not None else []
        finally:
            cursor.close()
        if held is not None and held.keep(engine, connection):
            connection = None  # kept for the caller's next statement: not given back below
        return rows, description
    except dialect.loaded_dbapi.Error as error:
        disconnected = dialect.is_disconnect(error, connection and connection.dbapi_connection, None)
        if disconnected and connection is not None:
            connection.invalidate(error)  # a dead connection must not go back to the pool
        raise DBAPIError.instance(statement, params, error, dialect.loaded_dbapi.Error,
                                  connection_invalidated=disconnected, dialect=dialect) from error
    finally:
        if connection is not None:
            connection.close()


# A connection is given back to the pool this long after its last statement (see HeldConnection): a stream of
# creates keeps one, and one kept through a pause is checked again.
HOLD_SECONDS = 1.0
# Connections of a parent process a forked child holds on to (HeldConnection.forget).
_INHERITED: list[PoolProxiedConnection] = []


class HeldConnection:
    """A connection of an engine's pool kept checked out between the statements of a caller that runs one at a
    time (app.group_insert: one write under way per process), for `on_driver(..., held=)`.

    Checking a connection out of the pool and back in cost a create about 20 us of CPU, a tenth of its work in
    process (BENCHMARKS.md, item 1, session 22). The connection goes back to the pool, and the next statement
    checks one out again with the pool's checks (recycling), when HOLD_SECONDS have passed since its last
    statement, when a statement fails, and when the caller's engine changes. One the server has closed meanwhile
    is replaced before it is used, as the web's pool replaces one at checkout (_replace_if_closed_by_server).
    """

    def __init__(self) -> None:
        self._held: tuple[PoolProxiedConnection, Engine, float] | None = None

    def take(self, engine: Engine) -> PoolProxiedConnection | None:
        """The connection kept from the last statement, if it is `engine`'s and recent; None to check one out."""
        held, self._held = self._held, None
        if held is None:
            return None
        connection, owner, last_used = held
        if closed_by_server(connection.dbapi_connection):
            connection.invalidate()  # closed and given back: the pool opens a fresh one in its place
        elif owner is engine and time.monotonic() - last_used < HOLD_SECONDS:
            return connection
        else:
            connection.close()
        return None

    def keep(self, engine: Engine, connection: PoolProxiedConnection) -> bool:
        """Keep `connection`, which has just run a statement, unless `engine`'s pool is not one to keep from."""
        if not isinstance(engine.pool, QueuePool):
            return False  # SQLite's in-memory pools: a connection per thread, and the next writer is another thread
        self._held = (connection, engine, time.monotonic())
        return True

    def forget(self) -> None:
        """In a forked child: the parent's connection is never used here, nor collected, which would give it to
        this process's copy of the pool or close the parent's session."""
        if self._held is not None:
            _INHERITED.append(self._held[0])
            self._held = None


class DriverSelect:
    """A SELECT run with `on_driver`: compiled once per database, its rows decoded by SQLAlchemy's own result
    processors (what `Connection.execute` would give) into named tuples. A status read of a queued or running task
    spent 210 us of CPU in SQLAlchemy's execution of its one SELECT and 123 us this way (PostgreSQL)."""

    def __init__(self, query: Select[Any]) -> None:
        self.query = query
        self._plans: dict[str, _SelectPlan] = {}

    def first(self, engine: Engine, params: Mapping[str, Any]) -> Any | None:
        """The first row for `params`, or None; `params` gives each of the query's `bindparam`s by name."""
        plan, rows, description = self._run(engine, params)
        return plan.row(rows[0], description) if rows else None

    def all(self, engine: Engine, params: Mapping[str, Any]) -> list[Any]:
        """Every row for `params` (as `first` takes them), in the query's order."""
        plan, rows, description = self._run(engine, params)
        return [plan.row(values, description) for values in rows]

    def _run(self, engine: Engine, params: Mapping[str, Any]) -> tuple[_SelectPlan, list[Any], Sequence[Any] | None]:
        plan = self._plans.get(engine.dialect.name)
        if plan is None:
            plan = self._plans[engine.dialect.name] = _SelectPlan(self.query, engine.dialect)
        rows, description = on_driver(engine, plan.statement, plan.parameters(params))
        return plan, rows, description


class _SelectPlan:
    """A query as one database takes it: the statement, how parameters are passed, how each column is decoded."""

    def __init__(self, query: Select[Any], dialect: Any) -> None:
        compiled = query.compile(dialect=dialect)
        self.statement = compiled.string
        self._positions: Sequence[str] | None = compiled.positiontup  # None where the driver takes names
        # By the name each parameter has in the statement. A value the query itself holds (SQLite's `OFFSET 0`
        # beside a LIMIT) is passed as it is; the query's `bindparam`s take theirs from the caller.
        self._binds = {name: (bind.type.dialect_impl(dialect).bind_processor(dialect), bind.required, bind.value)
                       for bind, name in compiled.bind_names.items()}
        self._row_type = namedtuple("Row", list(query.selected_columns.keys()))  # type: ignore[misc]
        self._types = [column.type.dialect_impl(dialect) for column in query.selected_columns]
        self._dialect = dialect
        self._decoders: list[Callable[[Any], Any] | None] | None = None  # known from the first result

    def parameters(self, params: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        values = {}
        for name, (process, given, fixed) in self._binds.items():
            value = params[name] if given else fixed
            values[name] = process(value) if process is not None else value
        return values if self._positions is None else [values[name] for name in self._positions]

    def row(self, values: Sequence[Any], description: Sequence[Any]) -> Any:
        decoders = self._decoders
        if decoders is None:  # some decoders depend on the driver's type code of the column (PostgreSQL's numerics)
            decoders = [kind.result_processor(self._dialect, column[1])
                        for kind, column in zip(self._types, description, strict=True)]
            decoders = self._decoders = decoders if any(decoders) else []  # []: every column as the driver gives it
        if decoders:
            values = [decode(value) if decode is not None else value
                      for decode, value in zip(decoders, values, strict=True)]
        return self._row_type._make(values)
