"""Database engine and sessions, shared by the web front and the workers."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker


class Database:
    """Created empty in `app.extensions`, bound to a URL once settings are known (init_app style)."""

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._sessionmaker: sessionmaker[Session] | None = None

    def init(self, url: str) -> None:
        if self._engine is not None and str(self._engine.url) == url:
            return
        if self._engine is not None:
            self._engine.dispose()
        self._engine = make_engine(url)
        self._sessionmaker = sessionmaker(self._engine, expire_on_commit=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("database not initialised: call init_extensions(settings) first")
        return self._engine

    def session(self) -> Session:
        if self._sessionmaker is None:
            raise RuntimeError("database not initialised: call init_extensions(settings) first")
        return self._sessionmaker()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error; used by workers and the CLI."""
        with self.session() as session, session.begin():
            yield session


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # Several processes share one file in the embedded default: WAL lets readers run beside the one
        # writer, and a generous busy timeout makes writers queue instead of failing with "locked".
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
