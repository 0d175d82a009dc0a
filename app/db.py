"""Database engine and sessions, shared by the web front and the workers."""
from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

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
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN)
    if poller.poll(0):
        raise DisconnectionError("the server closed this pooled connection")


def column_default(column: Any) -> Any:
    """The value a column takes when an INSERT leaves it out: its scalar default, None without one, or COMPUTED."""
    default = column.default
    if default is None:
        return None
    return default.arg if default.is_scalar else COMPUTED
