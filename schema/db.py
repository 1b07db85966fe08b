"""Engine construction for SQLite (WAL) and PostgreSQL; nothing runs at import."""

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

import schema.tables  # noqa: F401  (registers every table on SQLModel.metadata)

WRITE_OPTION = "benefed_write"


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgresql:// URLs."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def is_sqlite(engine: Engine) -> bool:
    """True when the engine talks to SQLite."""
    return engine.dialect.name == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite files get WAL, foreign keys and a busy timeout."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": 30}
        if url in {"sqlite://", "sqlite:///:memory:"}:
            kwargs.setdefault("poolclass", StaticPool)
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate_for_writes)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _sqlite_begin_immediate_for_writes).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # A larger page cache per connection (8 MB instead of 2: the rollups and the recent
    # actions stay in it), and temporary sorting B-trees in memory.
    cursor.execute("PRAGMA cache_size=-8000")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def _sqlite_begin_immediate_for_writes(connection: Any) -> None:
    # Writing transactions start with BEGIN IMMEDIATE: they take the write lock up
    # front, so concurrent writers queue (busy_timeout) instead of failing with
    # "database is locked" when a read transaction tries to upgrade. Readers keep
    # plain BEGIN and run alongside thanks to WAL.
    # Straight to the driver: BEGIN needs no parameters, no result and no events, and
    # every transaction of the application starts here.
    driver = connection.connection.driver_connection
    if connection.get_execution_options().get(WRITE_OPTION):
        driver.execute("BEGIN IMMEDIATE")
    else:
        driver.execute("BEGIN")


def create_all(engine: Engine) -> None:
    """Create every table directly (tests); production uses the migrations."""
    SQLModel.metadata.create_all(engine)


class WriteTurn:
    """Writers of one SQLite file wait their turn here rather than in SQLite's busy handler.

    SQLite lets one transaction write at a time; a writer that finds the lock
    taken sleeps (1, 2, 5, 10 ms...) and retries, so under load writers spin and
    their latency jumps. Here they queue on a lock per process and file (threads),
    then on an advisory file lock (worker processes), and are woken as soon as the
    turn is free. Re-entrant in one thread (a write session opened inside another).
    """

    def __init__(self, path: str | None) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self._path = path

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the turn for the block."""
        with self._lock:
            self._depth += 1
            try:
                if self._depth > 1 or self._path is None:
                    yield
                    return
                with open(self._path, "ab") as lock_file:
                    fcntl.flock(lock_file, fcntl.LOCK_EX)  # released when the file closes
                    yield
            finally:
                self._depth -= 1


_TURNS: dict[str, WriteTurn] = {}
_TURNS_LOCK = threading.Lock()


def _turn_for(engine: Engine) -> WriteTurn | None:
    """The turn of an SQLite database (one per file in a process), None for PostgreSQL."""
    if not is_sqlite(engine):
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return WriteTurn(None)
    path = os.path.abspath(database) + "-writelock"
    with _TURNS_LOCK:
        return _TURNS.setdefault(path, WriteTurn(path))


class Database:
    """An engine plus the two kinds of session the application opens."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._turn = _turn_for(engine)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; rolled back at the end."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session that holds the write lock; committed on success, else rolled back."""
        if self._turn is None:
            with self._session() as session:
                yield session
            return
        with self._turn.held(), self._session() as session:
            yield session

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with Session(self._writer, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
