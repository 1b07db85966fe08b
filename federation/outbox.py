"""The outbox: activities to send, written in the caller's transaction.

``publish`` stores the activity once (its body is signed at send time) and one
Delivery row per distinct inbox; the worker (federation/delivery.py) sends them.
Nothing is written to blocked hosts or actors.
"""

import json
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from federation import blocks, wakeup
from schema.tables import Delivery, Follow, OutboxActivity, RemoteActor
from schema.tables._base import utcnow

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
PUBLIC_ALIASES = {PUBLIC, "as:Public", "Public"}
AS_CONTEXT = "https://www.w3.org/ns/activitystreams"


def object_id_of(activity: dict[str, Any]) -> str:
    """The id of the activity's object (a string, or the id of an embedded object)."""
    found = activity.get("object")
    if isinstance(found, dict):
        found = found.get("id")
    return found if isinstance(found, str) else ""


def _addressees(activity: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for name in ("to", "cc", "audience"):
        value = activity.get(name)
        values = value if isinstance(value, list) else [value]
        found.update(v for v in values if isinstance(v, str))
    return found


def is_public(activity: dict[str, Any]) -> bool:
    """True when the activity is addressed to everyone."""
    return bool(_addressees(activity) & PUBLIC_ALIASES)


def _delivery_body(activity: dict[str, Any]) -> str:
    # bto and bcc never leave the instance (ActivityPub 6).
    sent = {k: v for k, v in activity.items() if k not in {"bto", "bcc"}}
    return json.dumps(sent, ensure_ascii=False, separators=(",", ":"))


def _allowed_inboxes(session: Session, inboxes: list[str]) -> list[str]:
    domains = blocks.blocked_domains(session)
    seen: dict[str, None] = {}
    for url in inboxes:
        host = blocks.host_of(url) if isinstance(url, str) else ""
        if host and url not in seen and not blocks.host_in(domains, host):
            seen[url] = None
    return list(seen)


def publish(
    session: Session,
    *,
    config: Any,
    actor_kind: str,
    actor_id: int | None,
    activity: dict[str, Any],
    inboxes: list[str],
    now: datetime | None = None,
) -> OutboxActivity:
    """Store an activity and one delivery per distinct inbox, in the caller's transaction."""
    del config  # the body is signed at send time with the actor's key
    moment = now or utcnow()
    row = OutboxActivity(
        activity_id=str(activity["id"]),
        activity_type=str(activity.get("type", ""))[:64],
        actor_kind=actor_kind,
        actor_id=actor_id,
        object_id=object_id_of(activity)[:2048],
        is_public=is_public(activity),
        body=_delivery_body(activity),
        created_at=moment,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    for url in _allowed_inboxes(session, inboxes):
        session.add(
            Delivery(
                activity_pk=row.id,
                inbox_url=url,
                host=blocks.host_of(url),
                created_at=moment,
                next_attempt_at=moment,
            )
        )
    session.flush()
    wakeup.notify_after_commit(session)
    return row


def followers(session: Session, *, kind: str, owner_id: int | None) -> list[RemoteActor]:
    """The remote actors whose follow of this local actor was accepted (not gone)."""
    query = (
        select(RemoteActor)
        .join(Follow, col(Follow.remote_actor_id) == col(RemoteActor.id))
        .where(
            Follow.direction == "in",
            Follow.state == "accepted",
            Follow.local_kind == kind,
            Follow.local_id == owner_id,
            col(RemoteActor.is_gone).is_(False),
        )
        .order_by(col(RemoteActor.id))
    )
    return list(session.exec(query))


def follower_inboxes(session: Session, *, kind: str, owner_id: int | None) -> list[str]:
    """Where to deliver to every follower: each host's shared inbox when it has one."""
    inboxes: dict[str, None] = {}
    domains, actors = blocks.blocked_domains(session), blocks.blocked_actors(session)
    for actor in followers(session, kind=kind, owner_id=owner_id):
        if actor.uri in actors or blocks.host_in(domains, blocks.host_of(actor.uri)):
            continue
        url = actor.shared_inbox or actor.inbox
        if url:
            inboxes[url] = None
    return list(inboxes)


def publish_to_followers(
    session: Session,
    *,
    config: Any,
    kind: str,
    owner_id: int | None,
    activity: dict[str, Any],
    now: datetime | None = None,
) -> OutboxActivity:
    """Publish an activity of a local actor to all its accepted followers."""
    inboxes = follower_inboxes(session, kind=kind, owner_id=owner_id)
    return publish(
        session,
        config=config,
        actor_kind=kind,
        actor_id=owner_id,
        activity=activity,
        inboxes=inboxes,
        now=now,
    )
