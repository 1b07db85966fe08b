"""The federation worker: processes received activities and delivers the outbox.

It runs inside ``benefed serve`` (config.federation.run_worker_in_server) or as
``benefed worker``. It wakes up when work is committed in the same process
(federation/wakeup.py) and otherwise polls every ``poll_interval`` seconds.

With SQLite exactly one worker runs per instance, however many web workers
there are: each would-be worker tries an exclusive lock on the file
``<database>.worker.lock`` and only the holder works (the others keep trying,
so one takes over if the holder dies). On PostgreSQL any number of workers run:
deliveries are claimed with SKIP LOCKED and the inbox processor takes an
advisory lock per item.
"""

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO

import httpx
from sqlalchemy.engine import make_url

from federation import (
    delivery,
    delivery_queue,
    monthly_notes,
    processing,
    reports_out,
    summaries_out,
    summary_reconcile,
    wakeup,
)
from instance.config import Config
from schema.db import Database, is_sqlite
from schema.tables._base import utcnow

log = logging.getLogger("benefed.worker")

LOCK_RETRY_SECONDS = 2.0
ERROR_PAUSE_SECONDS = 5.0


def default_worker_id() -> str:
    """A name for this worker: host and process id."""
    return f"{socket.gethostname()}-{os.getpid()}"[:64]


def lock_path(db: Database) -> Path | None:
    """Where the SQLite worker lock lives (None for PostgreSQL or an in-memory database)."""
    if not is_sqlite(db.engine):
        return None
    database = make_url(str(db.engine.url)).database
    if not database or database == ":memory:":
        return None
    return Path(f"{database}.worker.lock")


def try_lock(path: Path) -> IO[bytes] | None:
    """Take the exclusive worker lock without waiting; the open file holds it (None: busy)."""
    handle = path.open("ab")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


@contextlib.contextmanager
def _held(handle: IO[bytes] | None) -> Iterator[None]:
    try:
        yield
    finally:
        if handle is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()


async def _wait(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    """Sleep until woken, stopped or the time is up."""
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    wake.clear()


async def _acquire(path: Path | None, stop: asyncio.Event) -> IO[bytes] | None:
    """Wait for the SQLite worker lock (nothing to wait for on PostgreSQL)."""
    if path is None:
        return None
    while not stop.is_set():
        handle = try_lock(path)
        if handle is not None:
            return handle
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), LOCK_RETRY_SECONDS)
    return None


async def work_once(
    db: Database, client: httpx.AsyncClient, config: Config, *, now: datetime, worker_id: str
) -> int:
    """One round: process received activities, publish settled summaries, deliver; the work done."""
    done = await processing.process_pending(db, client, config, now=now)
    done += await asyncio.to_thread(summaries_out.publish_due, db, config, now=now)
    done += await reports_out.publish_due(db, client, config, now=now)
    done += await asyncio.to_thread(monthly_notes.publish_due, db, config, now=now)
    done += await delivery.run_once(db, client, config, now=now, worker_id=worker_id)
    done += await summary_reconcile.reconcile_revived(db, client, config, now=now)
    return done


async def _idle_wait(db: Database, config: Config, poll: float, now: datetime) -> float:
    """How long to sleep with nothing to do: the poll interval, or less when a summary is due."""
    due = await asyncio.to_thread(summaries_out.seconds_until_due, db, now=now)
    report = await asyncio.to_thread(reports_out.seconds_until_due, db, config, now=now)
    due = min((x for x in (due, report) if x is not None), default=None)
    return poll if due is None else min(poll, max(due, 0.01))


async def run_worker(
    db: Database,
    config: Config,
    *,
    client: httpx.AsyncClient | None = None,
    stop: asyncio.Event,
    clock: Callable[[], datetime] = utcnow,
    poll_interval: float = 0.5,
    worker_id: str | None = None,
) -> None:
    """Work until ``stop`` is set (with SQLite, only while holding the worker lock)."""
    name = worker_id or default_worker_id()
    path = lock_path(db)
    handle = await _acquire(path, stop)
    if path is not None and handle is None:
        return
    own_client = client is None
    http = client or delivery.make_client(config)  # pooled: keeps connections to peers
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()
    wakeup.register(loop, wake)
    summaries_out.listen_for_changes()  # an action change wakes us (its summary is due soon)
    reports_out.listen_for_changes()  # and its network reports
    try:
        with _held(handle):
            await asyncio.to_thread(_release, db, None if path is not None else name)
            log.info("federation worker %s started", name)
            await _loop(
                db, http, config, stop=stop, wake=wake, clock=clock, poll=poll_interval, name=name
            )
    finally:
        wakeup.unregister(loop, wake)
        if own_client:
            await http.aclose()


def _release(db: Database, worker_id: str | None) -> None:
    # With the SQLite lock held we are the only worker: every lease is a leftover.
    with db.write() as session:
        delivery_queue.release_locks(session, worker_id=worker_id)


async def _loop(
    db: Database,
    http: httpx.AsyncClient,
    config: Config,
    *,
    stop: asyncio.Event,
    wake: asyncio.Event,
    clock: Callable[[], datetime],
    poll: float,
    name: str,
) -> None:
    while not stop.is_set():
        try:
            done = await work_once(db, http, config, now=clock(), worker_id=name)
        except Exception:  # keep the worker alive; the rows stay queued
            log.exception("federation worker round failed")
            await _wait(wake, stop, ERROR_PAUSE_SECONDS)
            continue
        if not done:
            await _wait(wake, stop, await _idle_wait(db, config, poll, clock()))
