"""The inbox: check the shape of a received activity, verify its sender, store it once.

``receive`` runs the whole pipeline for the web endpoint: parse (``BadActivity``,
400), verify (``verification.Refused``, 401/403), then store. Storing is
idempotent on the activity id: a replay is answered like the first delivery and
never processed twice. Processing happens later (federation/processing.py).
"""

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from federation import remote_actors, verification, wakeup
from instance.config import Config
from schema.db import Database, is_sqlite
from schema.tables import InboxItem

MAX_ID = 2048
MAX_TYPES = 8


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
        remote_actors.check_keywords(activity)
    except remote_actors.RemoteActorError as error:
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


def store(
    session: Session,
    *,
    activity: dict[str, Any],
    body: bytes,
    recipient: Recipient,
    now: datetime,
) -> bool:
    """Store the activity once (by id); True when it is new, False for a replay."""
    values = InboxItem(
        activity_id=activity["id"],
        activity_type=type_of(activity),
        actor_uri=verification.actor_of(activity),
        recipient_kind=recipient.kind,
        recipient_id=recipient.owner_id,
        body=body.decode("utf-8"),
        received_at=now,
    ).model_dump(exclude={"id"})
    insert = sqlite_insert if is_sqlite(session.get_bind()) else pg_insert
    statement = insert(InboxItem).values(**values).on_conflict_do_nothing()
    created = session.execute(statement).rowcount == 1  # type: ignore[attr-defined]
    if created:
        wakeup.notify_after_commit(session)
    return created


def seen(session: Session, activity_id: str) -> bool:
    """True when an activity with this id was stored already."""
    query = select(InboxItem.id).where(InboxItem.activity_id == activity_id)
    return session.exec(query).first() is not None


def _store(
    db: Database, activity: dict[str, Any], body: bytes, recipient: Recipient, now: datetime
) -> bool:
    with db.write() as session:
        return store(session, activity=activity, body=body, recipient=recipient, now=now)


async def receive(
    db: Database,
    client: httpx.AsyncClient,
    config: Config,
    request: verification.IncomingRequest,
    *,
    recipient: Recipient,
    now: datetime,
) -> bool:
    """Parse, verify and store one delivery; True when new. BadActivity or Refused otherwise."""
    activity = parse_activity(request.body)
    try:
        await verification.verify(db, client, config, request, activity, now=now)
    except verification.Unknown:
        return False
    return await asyncio.to_thread(_store, db, activity, request.body, recipient, now)
