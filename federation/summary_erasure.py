"""Erasure and revival on the issuing side of a person's hours.

Deleting an account or an association queues, in the deleting transaction and
before the cascade removes the rows, a Delete (Tombstone) of every summary to
everyone who received it: instance/account_data.py and instance/associations.py
run their ``BEFORE_DELETE`` hooks, which this module fills when imported (the
web app and the worker always import it). A deleted account's links end too,
both ways, and the other side is told (Reject of a request or link received
here, Undo with ``benefed:erase`` of a link asked from here); its keys stay
(they sign those activities at send time) and its Ed25519 key is revoked at
that moment, which dates the Tombstone its actor answers from then on. When a
home host comes back after being marked dead, the current summaries of
everyone linked there are sent again (the receiver ignores versions it already
holds).
"""

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from federation import actor_keys, documents, links, outbox
from federation.summaries_out import homes_of, send_activity
from instance import account_data, associations, summary_changes
from schema import vocabulary
from schema.tables import ActorKey, Association, Follow, RemoteActor, SentSummary, User
from schema.tables._base import utcnow


def _recipients(session: Session, row: SentSummary, body: dict[str, Any]) -> list[RemoteActor]:
    named = [uri for uri in body.get("to", []) if isinstance(uri, str)]
    found = {actor.uri: actor for actor in homes_of(session, row.user_id)}
    if named:
        query = select(RemoteActor).where(col(RemoteActor.uri).in_(named))
        found.update({actor.uri: actor for actor in session.exec(query)})
    return [found[uri] for uri in sorted(found)]


def tombstone(object_id: str, now: datetime) -> dict[str, Any]:
    """The Tombstone of a deleted summary."""
    return {
        "id": object_id,
        "type": "Tombstone",
        "formerType": vocabulary.HOURS_SUMMARY,
        "deleted": documents.iso(now),
    }


def send_deletes(session: Session, rows: list[SentSummary], *, now: datetime | None = None) -> int:
    """Queue a Delete of each summary to everyone who received it; how many were queued."""
    moment = now or utcnow()
    count = 0
    for row in rows:
        body = _loaded(row.body)
        volunteer = body.get("volunteer")
        if row.deleted or not isinstance(volunteer, str):
            continue
        homes = _recipients(session, row, body)
        if homes:
            obj = tombstone(row.object_id, moment)
            send_activity(
                session,
                user_id=row.user_id,
                kind="Delete",
                obj=obj,
                actor=volunteer,
                homes=homes,
                now=moment,
            )
            count += 1
    session.flush()
    return count


def _loaded(body: str) -> dict[str, Any]:
    try:
        found = json.loads(body) if body else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def erase_user(session: Session, user: User) -> None:
    """Before an account is deleted: Delete every summary stated about the person, end links."""
    rows = session.exec(select(SentSummary).where(SentSummary.user_id == user.id))
    send_deletes(session, list(rows))
    end_links_of_deleted(session, user)


def _former_actor(session: Session, user_id: int | None) -> str:
    """The person's actor id, read from their current RSA key ("" when they never had one)."""
    key = actor_keys.current_key(session, "user", user_id, "rsa")
    return key.key_id.partition("#")[0] if key is not None else ""


def _ending(actor: str, follow: Follow, remote: RemoteActor) -> dict[str, Any]:
    """Reject of a link received here, Undo (erase asked) of a link asked from here."""
    received = follow.direction == "in"
    asked = {
        "id": follow.follow_activity_id,
        "type": "Follow",
        "actor": remote.uri if received else actor,
        "object": actor if received else remote.uri,
    }
    activity: dict[str, Any] = {
        "@context": links.CONTEXT,
        "id": f"{actor}#end-link-{uuid.uuid4().hex}",
        "type": "Reject" if received else "Undo",
        "actor": actor,
        "object": asked,
        "to": [remote.uri],
    }
    if not received:
        activity[links.ERASE_TERM] = True  # the account is gone: nothing of it is kept there
    return activity


def end_links_of_deleted(session: Session, user: User, *, now: datetime | None = None) -> int:
    """End every link of an account being deleted, both ways, telling the other side; how many.

    The rows stay, ended and detached from the account (``local_id`` None), so
    that no later account can ever be taken for this one.
    """
    moment = now or utcnow()
    actor = _former_actor(session, user.id)
    query = (
        select(Follow, RemoteActor)
        .join(RemoteActor, col(RemoteActor.id) == col(Follow.remote_actor_id))
        .where(Follow.local_kind == links.KIND, Follow.local_id == user.id)
    )
    ended = 0
    for follow, remote in list(session.exec(query)):
        inbox = remote.inbox or remote.shared_inbox
        if follow.state in links.LIVE_STATES:
            if actor and inbox and not remote.is_gone:
                outbox.publish(
                    session,
                    config=None,  # signed at send time with the person's key, kept
                    actor_kind=links.KIND,
                    actor_id=user.id,
                    activity=_ending(actor, follow, remote),
                    inboxes=[inbox],
                    now=moment,
                )
            follow.state = "ended"
            ended += 1
        follow.local_id, follow.updated_at = None, moment
        session.add(follow)
    _revoke_proof_keys(session, user.id, moment)
    session.flush()
    return ended


def _revoke_proof_keys(session: Session, user_id: int | None, moment: datetime) -> None:
    """Revoke the person's Ed25519 keys: nothing they sign from now on counts."""
    query = select(ActorKey).where(
        ActorKey.owner_kind == links.KIND,
        ActorKey.owner_id == user_id,
        ActorKey.kind == "ed25519",
        col(ActorKey.revoked_at).is_(None),
    )
    for key in session.exec(query):
        key.revoked_at = moment
        session.add(key)


def erase_association(session: Session, association: Association) -> None:
    """Before an association is deleted: Delete every summary it stated."""
    rows = session.exec(select(SentSummary).where(SentSummary.association_id == association.id))
    send_deletes(session, list(rows))


def resend_to_host(session: Session, *, host: str, now: datetime) -> int:
    """Send again the current summaries of everyone linked to a home on a host that came back."""
    query = (
        select(Follow.local_id, RemoteActor)
        .join(RemoteActor, col(RemoteActor.id) == col(Follow.remote_actor_id))
        .where(
            Follow.direction == "in",
            Follow.local_kind == "user",
            Follow.state == "accepted",
            RemoteActor.host == host,
            col(RemoteActor.is_gone).is_(False),
        )
    )
    count = 0
    for user_id, home in list(session.exec(query)):
        rows = session.exec(
            select(SentSummary).where(
                SentSummary.user_id == user_id, col(SentSummary.deleted).is_(False)
            )
        )
        for row in rows:
            body = _loaded(row.body)
            if home.uri in body.get("to", []) and isinstance(body.get("volunteer"), str):
                send_activity(
                    session,
                    user_id=row.user_id,
                    kind="Update",
                    obj=body,
                    actor=body["volunteer"],
                    homes=[home],
                    now=now,
                )
                count += 1
    return count


GONE_FLAGS = ("is_hidden", "is_suspended", "is_archived")


def _was(association: Association, name: str) -> bool:
    """The flag's value before this flush's change (its value when unchanged)."""
    history = inspect(association).attrs[name].history
    return bool(history.deleted[0]) if history.deleted else bool(getattr(association, name))


def association_back(session: OrmSession, _context: Any = None, _instances: Any = None) -> None:
    """Before a flush: rebuild every linked member's summaries of an association visible again.

    Visible again: no longer hidden, suspended or archived; home gets what changed
    meanwhile. While hidden, suspended or archived it has no actor and sends nothing: home keeps
    the summaries it stated before, as they were signed (frozen), see docs/federation.md.
    """
    for found in list(session.dirty):
        if not isinstance(found, Association) or found.id is None:
            continue
        back = any(_was(found, name) for name in GONE_FLAGS) and not any(
            getattr(found, name) for name in GONE_FLAGS
        )
        if back and isinstance(session, Session):
            summary_changes.mark_association(session, association_id=found.id)


def _register_hooks() -> None:
    """Queue the Deletes in the deleting transaction, before the cascade removes the rows."""
    if erase_user not in account_data.BEFORE_DELETE:
        account_data.BEFORE_DELETE.append(erase_user)
    if erase_association not in associations.BEFORE_DELETE:
        associations.BEFORE_DELETE.append(erase_association)
    if not event.contains(OrmSession, "before_flush", association_back):
        event.listen(OrmSession, "before_flush", association_back)


_register_hooks()
