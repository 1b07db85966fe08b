"""Engine construction for SQLite (WAL) and PostgreSQL; nothing runs at import."""

import fcntl
import itertools
import logging
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

logger = logging.getLogger("benefed.db")
WRITE_OPTION = "benefed_write"
#: Write transactions of one process between two of its checkpoints (see Database.write).
#: Small on purpose: a checkpoint syncs the WAL to disk, and writers committing meanwhile
#: wait for the disk in proportion to what it syncs (p99 of recording at 4 clients:
#: ~20 ms every 96 writes, ~12 ms every 16; docs/benchmarks.md, "Seventh pass").
CHECKPOINT_EVERY = 16
#: WAL pages past which SQLite checkpoints inside a commit (its default is 1,000).
AUTOCHECKPOINT_PAGES = 4000


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
    # SQLite's own checkpoint, inside a commit, only as a safety net (16 MB of WAL):
    # Database.write checkpoints long before, outside the writers' turn.
    cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
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
        self._file: Any = None  # the lock file, opened once per process and file
        self._pid = 0

    @property
    def shared(self) -> bool:
        """True for a database file (which other processes may open), not a memory one."""
        return self._path is not None

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the turn for the block."""
        with self._lock:
            self._depth += 1
            try:
                if self._depth > 1 or self._path is None:
                    yield
                    return
                if self._pid != os.getpid():  # the first turn here, or in a forked child:
                    # its own open file (flock locks belong to an open file, shared by a fork)
                    self._file, self._pid = open(self._path, "ab"), os.getpid()  # noqa: SIM115
                fcntl.flock(self._file, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(self._file, fcntl.LOCK_UN)
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
        self._writes = itertools.count(1)
        self._checkpointing = threading.Lock()  # held while a checkpoint runs
        #: Statements run in this process and only use the CPU (SQLite), never wait on a network.
        self.runs_in_process = is_sqlite(engine)

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
        if self._turn.shared and next(self._writes) % CHECKPOINT_EVERY == 0:
            self._checkpoint_aside()

    def _checkpoint_aside(self) -> None:
        """Checkpoint in a thread of its own (unless one is running), after the turn was given back.

        SQLite checkpoints by itself when the WAL passes its mark, inside the commit
        that crossed it: that writer, and every writer queued behind it, then waits
        several milliseconds. A passive checkpoint every few writes, outside the
        turn, keeps the WAL far under the mark; writers and readers go on meanwhile
        (it copies what it can without waiting for anyone). In a thread, the request
        whose write crossed the count does not wait for it either (SQLite lets go of
        the GIL while it copies): it was the p99 of recording.
        """
        if not self._checkpointing.acquire(blocking=False):
            return
        threading.Thread(target=self._checkpoint, name="benefed-checkpoint", daemon=True).start()

    def _checkpoint(self) -> None:
        """Copy the WAL's pages into the database file (holding `_checkpointing`)."""
        try:
            with self.engine.connect() as connection:
                # Straight to the driver: outside any transaction, which a checkpoint needs.
                connection.connection.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:  # a later checkpoint (or SQLite's own) copies what this one could not
            logger.warning("WAL checkpoint failed", exc_info=True)
        finally:
            self._checkpointing.release()

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
        """Close every pooled connection (after a running checkpoint ends)."""
        waited = self._checkpointing.acquire(timeout=30)
        try:
            self.engine.dispose()
        finally:
            if waited:
                self._checkpointing.release()
