"""The inbox: check the shape of a received activity, verify its sender, store it once.

``receive`` runs the whole pipeline for the web endpoint: parse (``BadActivity``,
400), verify (``signed_requests.Refused``, 401/403), then store. Storing is
idempotent on the activity id: a replay is answered like the first delivery and
never processed twice. Processing happens later (federation/processing.py).

Requests arriving together share the blocking work (``Batcher``): one thread hop
and two queries screen them all (verification.screen_many), and one transaction
stores them all (group commit); each still gets its own answer, after the commit.
"""

import asyncio
import functools
import json
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import httpx
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from federation import actor_documents, signed_requests, verification, wakeup
from instance.config import Config
from schema.db import Database
from schema.tables import InboxItem

MAX_ID = 2048
MAX_TYPES = 8
BATCH_LIMIT = 200

Item = TypeVar("Item")
Result = TypeVar("Result")


class BadActivity(Exception):
    """The body is not an activity we can read (400)."""


@dataclass(frozen=True)
class Recipient:
    """Whose inbox received the activity: ("shared", None), ("association", id), ("user", id)..."""

    kind: str = "shared"
    owner_id: int | None = None


def _is_url(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_ID
        and value.startswith(("https://", "http://"))
        and not any(c.isspace() for c in value)
    )


def _types(value: Any) -> list[str]:
    found = value if isinstance(value, list) else [value]
    if not found or len(found) > MAX_TYPES:
        raise BadActivity("the activity's type is missing")
    if not all(isinstance(t, str) and 0 < len(t) <= 64 for t in found):
        raise BadActivity("the activity's type is not a short string")
    return found


def parse_activity(body: bytes) -> dict[str, Any]:
    """The activity in a request body; BadActivity (400) when it cannot be one."""
    try:
        text = body.decode("utf-8")
        activity = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadActivity("the body is not UTF-8 JSON") from None
    if not isinstance(activity, dict):
        raise BadActivity("the body is not a JSON object")
    try:
        actor_documents.check_keywords(activity)
    except actor_documents.DocumentError as error:
        raise BadActivity(str(error)) from None
    if not _is_url(activity.get("id")):
        raise BadActivity("the activity has no id")
    _types(activity.get("type"))
    if not _is_url(verification.actor_of(activity)):
        raise BadActivity("the activity has no actor")
    return activity


def type_of(activity: dict[str, Any]) -> str:
    """The activity's first type."""
    return _types(activity.get("type"))[0]


def _values(
    activity: dict[str, Any], body: bytes, recipient: Recipient, now: datetime
) -> dict[str, Any]:
    return {
        "activity_id": activity["id"],
        "activity_type": type_of(activity),
        "actor_uri": verification.actor_of(activity),
        "recipient_kind": recipient.kind,
        "recipient_id": recipient.owner_id,
        "body": body.decode("utf-8"),
        "received_at": now,
        "processed_at": None,
        "attempts": 0,
        "error": "",
    }


_TABLE = InboxItem.__table__  # type: ignore[attr-defined]
# Built once, run through Core with the row as parameters: building an ORM insert
# per activity cost more than the insert itself. RETURNING, not rowcount: psycopg
# reports -1 for an INSERT ... ON CONFLICT.
_INSERTS = {
    name: insert(_TABLE).on_conflict_do_nothing().returning(_TABLE.c.id)
    for name, insert in (("sqlite", sqlite_insert), ("postgresql", pg_insert))
}


def _insert_once(session: Session, values: dict[str, Any]) -> bool:
    connection = session.connection()
    statement = _INSERTS[connection.dialect.name]
    created = connection.execute(statement, values).first() is not None
    if created:
        wakeup.notify_after_commit(session)
    return created


def store(
    session: Session,
    *,
    activity: dict[str, Any],
    body: bytes,
    recipient: Recipient,
    now: datetime,
) -> bool:
    """Store the activity once (by id); True when it is new, False for a replay."""
    return _insert_once(session, _values(activity, body, recipient, now))


def seen(session: Session, activity_id: str) -> bool:
    """True when an activity with this id was stored already."""
    query = select(InboxItem.id).where(InboxItem.activity_id == activity_id)
    return session.exec(query).first() is not None


def store_many(db: Database, rows: list[dict[str, Any]]) -> list[bool]:
    """Store several activities in one write transaction; whether each one is new."""
    with db.write() as session:
        return [_insert_once(session, values) for values in rows]


def store_batch(db: Database, rows: list[dict[str, Any]]) -> list[bool | BaseException]:
    """store_many, or one transaction per row when that fails: a bad row fails only itself."""
    try:
        return list(store_many(db, rows))
    except Exception as error:
        if len(rows) == 1:
            return [error]
    results: list[bool | BaseException] = []
    for values in rows:
        try:
            results.extend(store_many(db, [values]))
        except Exception as error:  # handed to the request that sent this row
            results.append(error)
    return results


class Batcher(Generic[Item, Result]):
    """Runs a blocking function, in a thread, on the items of the requests that arrive together.

    The first request starts a run; the requests arriving meanwhile wait and go
    together in the next one (group commit for the writes). One run at a time: the
    web requests of this process never compete for the SQLite write lock, and a
    burst costs a few thread hops, connections and transactions instead of one
    per request. ``run`` returns one result per item, an exception for a failed one.
    """

    def __init__(
        self, run: Callable[[list[Item]], list[Result | BaseException]], limit: int = BATCH_LIMIT
    ) -> None:
        self.run = run
        self.limit = limit
        self.loop = asyncio.get_running_loop()
        self.waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self.worker: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """The result of the item, once the run that holds it ended (raises its error)."""
        future: asyncio.Future[Result] = self.loop.create_future()
        self.waiting.append((item, future))
        if self.worker is None or self.worker.done():
            self.worker = self.loop.create_task(self._work())
        return await asyncio.shield(future)

    async def _work(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting[: self.limit], self.waiting[self.limit :]
            try:
                results = await asyncio.to_thread(self.run, [item for item, _future in batch])
            except asyncio.CancelledError:  # shutting down: nobody may wait forever
                for _item, future in batch + self.waiting:
                    future.cancel()
                self.waiting = []
                raise
            except Exception as error:
                results = [error] * len(batch)
            for (_item, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)


_batchers: "weakref.WeakKeyDictionary[Database, dict[str, Batcher[Any, Any]]]"
_batchers = weakref.WeakKeyDictionary()


def _batchers_of(db: Database) -> dict[str, Batcher[Any, Any]]:
    found = _batchers.get(db)
    loop = asyncio.get_running_loop()
    if found is None or any(b.loop is not loop for b in found.values()):
        found = _batchers[db] = {
            "store": Batcher(functools.partial(store_batch, db)),
            "screen": Batcher(functools.partial(verification.screen_many, db)),
        }
    return found


def storer(db: Database) -> Batcher[dict[str, Any], bool]:
    """The store batcher of this database on the running loop (one per process)."""
    return _batchers_of(db)["store"]


def screener(db: Database) -> Batcher[verification.Screening, str]:
    """The batcher screening signed requests (blocks, time, digest, cached key)."""
    return _batchers_of(db)["screen"]


async def receive(
    db: Database,
    client: httpx.AsyncClient,
    config: Config,
    request: signed_requests.IncomingRequest,
    *,
    recipient: Recipient,
    now: datetime,
) -> bool:
    """Parse, verify and store one delivery; True when new. BadActivity or Refused otherwise."""
    activity = parse_activity(request.body)
    try:
        await verification.verify(
            db, client, config, request, activity, now=now, screen=screener(db).submit
        )
    except verification.Unknown:
        return False
    return await storer(db).submit(_values(activity, request.body, recipient, now))
