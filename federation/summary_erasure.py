"""Erasure and revival on the issuing side of a person's hours.

Deleting an account or an association queues, in the deleting transaction and
before the cascade removes the rows, a Delete (Tombstone) of every summary to
everyone who received it: instance/account_data.py and instance/associations.py
run their ``BEFORE_DELETE`` hooks, which this module fills when imported (the
web app and the worker always import it). When a home host comes back after
being marked dead, the current summaries of everyone linked there are sent
again (the receiver ignores versions it already holds).
"""

import json
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from federation import documents
from federation.summaries_out import homes_of, send_activity
from instance import account_data, associations
from schema import vocabulary
from schema.tables import Association, Follow, RemoteActor, SentSummary, User
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
    """Before an account is deleted: Delete every summary stated about the person."""
    rows = session.exec(select(SentSummary).where(SentSummary.user_id == user.id))
    send_deletes(session, list(rows))


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


def _register_hooks() -> None:
    """Queue the Deletes in the deleting transaction, before the cascade removes the rows."""
    if erase_user not in account_data.BEFORE_DELETE:
        account_data.BEFORE_DELETE.append(erase_user)
    if erase_association not in associations.BEFORE_DELETE:
        associations.BEFORE_DELETE.append(erase_association)


_register_hooks()
