"""The database engine and sessions: SQLite in WAL mode by default, any SQLAlchemy URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Executable, Row, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_POOL_SIZE = 40  # anyio's default thread limit: every request thread keeps one


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


class Database:
    """One engine and its session factory; ``session()`` is a unit of work (commit or roll back)."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            self.engine: Engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": 30},
                # One kept connection per request thread: no reconnects under load.
                pool_size=SQLITE_POOL_SIZE,
                max_overflow=SQLITE_POOL_SIZE,
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = threading.local()

    @property
    def in_process(self) -> bool:
        """Whether the database is a file this process reads itself (SQLite): a read costs
        microseconds and never waits on a network."""
        return self.engine.dialect.name == "sqlite"

    def create_schema(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent, safe to run at once
        from many processes: see :mod:`graphopt.store.migrations`)."""
        from graphopt.store import migrations

        migrations.upgrade(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def read_row(self, statement: Executable, params: Mapping[str, Any]) -> Row[Any] | None:
        """The one row (or None) of a single-statement read, on this thread's own autocommit
        connection: no pool checkout per call, and each call sees the latest commit. For hot
        read paths; a dropped connection is replaced and the read retried once."""
        connection: Connection | None = getattr(self._readers, "connection", None)
        if connection is None or connection.closed:
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._readers.connection = connection
        try:
            return connection.execute(statement, params).one_or_none()
        except DBAPIError as exc:
            connection.rollback()  # usable again (a dropped one reconnects on the next call)
            if not exc.connection_invalidated:
                raise
            return connection.execute(statement, params).one_or_none()

    def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
