"""Waking the worker of this process as soon as new work is committed.

Workers register an asyncio.Event with the loop they run on; ``notify()`` may be
called from any thread (the web app's thread pool) and sets each of them.
``notify_after_commit(session)`` does it once the session's transaction commits,
so the worker never wakes before the rows are visible. Other processes notice
new work by polling.
"""

import asyncio
import threading

from sqlalchemy import event
from sqlmodel import Session

_lock = threading.Lock()
_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
_MARK = "benefed_notify_registered"


def register(loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
    """Have ``notify()`` set this event (on its loop)."""
    with _lock:
        _waiters.add((loop, wake))


def unregister(loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
    """Stop notifying this event."""
    with _lock:
        _waiters.discard((loop, wake))


def notify() -> None:
    """Wake every worker of this process."""
    with _lock:
        waiters = list(_waiters)
    for loop, wake in waiters:
        if not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)


def _after_commit(session: Session) -> None:
    session.info.pop(_MARK, None)
    notify()


def notify_after_commit(session: Session) -> None:
    """Wake the workers once this session commits (registered once per transaction)."""
    if session.info.get(_MARK):
        return
    session.info[_MARK] = True
    event.listen(session, "after_commit", _after_commit, once=True)
