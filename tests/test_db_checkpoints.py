"""SQLite's WAL is copied back every CHECKPOINT_EVERY writes, in a thread of its own."""

import threading
import time
from pathlib import Path

from schema.db import CHECKPOINT_EVERY, Database, create_all, make_engine
from tests.factories import make_user


def _checkpoint_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "benefed-checkpoint"]


def _wait_for_checkpoints() -> None:
    deadline = time.monotonic() + 30
    while _checkpoint_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _checkpoint_threads()


def test_the_wal_is_copied_back_aside_every_few_writes(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.db"
    db = Database(make_engine(f"sqlite:///{path}"))
    create_all(db.engine)
    with db.engine.connect() as connection:  # start from a database file holding everything
        connection.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    start = path.read_bytes()
    for _ in range(CHECKPOINT_EVERY - 1):
        make_user(db)
    _wait_for_checkpoints()
    assert path.read_bytes() == start  # everything written so far is in the WAL only
    make_user(db)  # the write that reaches the count
    _wait_for_checkpoints()
    assert path.read_bytes() != start  # copied into the database file
    with db.engine.connect() as connection:
        busy, frames, copied = connection.connection.driver_connection.execute(
            "PRAGMA wal_checkpoint(PASSIVE)"
        ).fetchone()
    assert (busy, frames) == (0, copied)  # nothing was left to copy
    db.dispose()
