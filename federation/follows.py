"""Follows between our actors and remote ones: requests, answers, and our own follows.

Direction "in": a remote actor follows one of ours. An association accepts at
once unless it asks to approve follows (Association.approve_follows); a person
always decides. Direction "out": one of our associations follows a remote actor
and waits for its Accept or Reject. States: pending, accepted, rejected, ended.
Every answer is an activity queued in the caller's transaction.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import exists
from sqlmodel import Session, col, func, select

from federation import actor_keys, outbox, urls
from instance.associations import membership_of, require_permission
from instance.config import Config
from instance.errors import Conflict, Forbidden, NotFound
from instance.i18n import _
from schema.tables import Association, Follow, NetworkMember, RemoteActor, User
from schema.tables._base import utcnow

AS2_CONTEXT = "https://www.w3.org/ns/activitystreams"


def local_uri(session: Session, config: Config, kind: str, owner_id: int | None) -> str:
    """The actor id of one of our actors, from its row id."""
    return urls.actor_uri(config, kind, actor_keys.actor_ident(session, kind, owner_id))


def find(
    session: Session, *, direction: str, kind: str, owner_id: int | None, remote_actor_id: int
) -> Follow | None:
    """The follow row between a local and a remote actor in one direction."""
    query = select(Follow).where(
        Follow.direction == direction,
        Follow.local_kind == kind,
        Follow.local_id == owner_id,
        Follow.remote_actor_id == remote_actor_id,
    )
    return session.exec(query).first()


def _set(follow: Follow, state: str, now: datetime | None = None) -> None:
    follow.state = state
    follow.updated_at = now or utcnow()


def _answer(
    session: Session,
    config: Config,
    follow: Follow,
    remote: RemoteActor,
    kind: str,
    now: datetime | None = None,
) -> None:
    """Queue an Accept or Reject of an incoming follow, to the follower's own inbox."""
    me = local_uri(session, config, follow.local_kind, follow.local_id)
    activity = {
        "@context": AS2_CONTEXT,
        "id": urls.new_activity_id(config),
        "type": kind,
        "actor": me,
        "object": {
            "id": follow.follow_activity_id,
            "type": "Follow",
            "actor": remote.uri,
            "object": me,
        },
        "to": [remote.uri],
    }
    inbox = remote.inbox or remote.shared_inbox
    outbox.publish(
        session,
        config=config,
        actor_kind=follow.local_kind,
        actor_id=follow.local_id,
        activity=activity,
        inboxes=[inbox] if inbox else [],
        now=now,
    )


def receive_follow(
    session: Session,
    *,
    config: Config,
    remote: RemoteActor,
    kind: str,
    owner_id: int | None,
    follow_activity_id: str,
    auto_accept: bool,
    now: datetime | None = None,
) -> Follow:
    """Record a remote actor's follow request; accept it at once when auto_accept."""
    assert remote.id is not None
    follow = find(session, direction="in", kind=kind, owner_id=owner_id, remote_actor_id=remote.id)
    if follow is None:
        follow = Follow(
            direction="in",
            local_kind=kind,
            local_id=owner_id,
            remote_actor_id=remote.id,
            follow_activity_id=follow_activity_id[:2048],
        )
    follow.follow_activity_id = follow_activity_id[:2048]
    if follow.state in {"ended", "rejected"}:
        _set(follow, "pending")
    if auto_accept or follow.state == "accepted":
        _set(follow, "accepted", now)
        session.add(follow)
        session.flush()
        _answer(session, config, follow, remote, "Accept", now)
    session.add(follow)
    session.flush()
    return follow


def _joins_a_network(session: Session, follow_id: int) -> bool:
    """True when the follow is a request to join a network (answered on its members page)."""
    query = select(NetworkMember.id).where(NetworkMember.follow_id == follow_id)
    return session.exec(query.limit(1)).first() is not None


def _incoming(session: Session, follow_id: int) -> tuple[Follow, RemoteActor]:
    follow = session.get(Follow, follow_id)
    if follow is None or follow.direction != "in" or _joins_a_network(session, follow_id):
        raise NotFound(_("No such follow request."))
    remote = session.get(RemoteActor, follow.remote_actor_id)
    if remote is None:
        raise NotFound(_("No such follow request."))
    return follow, remote


def _require_decider(session: Session, follow: Follow, by: User) -> None:
    if follow.local_kind == "association" and follow.local_id is not None:
        association = session.get(Association, follow.local_id)
        if association is None:
            raise NotFound(_("No such follow request."))
        require_permission(by, membership_of(session, association, by), "manage_settings")
    elif follow.local_kind == "user":
        if by.id != follow.local_id:
            raise NotFound(_("No such follow request."))
    else:
        raise Forbidden(_("You are not allowed to do this."))


def accept_follower(session: Session, *, config: Config, follow_id: int, by: User) -> Follow:
    """Accept a pending follow request (managers of the association, or the person)."""
    follow, remote = _incoming(session, follow_id)
    _require_decider(session, follow, by)
    if follow.state == "accepted":
        return follow
    if follow.state != "pending":
        raise Conflict(_("This request is no longer waiting for an answer."))
    _set(follow, "accepted")
    session.add(follow)
    _answer(session, config, follow, remote, "Accept")
    session.flush()
    return follow


def reject_follower(session: Session, *, config: Config, follow_id: int, by: User) -> Follow:
    """Refuse a follow request, or remove an accepted follower (sends Reject)."""
    follow, remote = _incoming(session, follow_id)
    _require_decider(session, follow, by)
    if follow.state in {"rejected", "ended"}:
        return follow
    _set(follow, "rejected")
    session.add(follow)
    _answer(session, config, follow, remote, "Reject")
    session.flush()
    return follow


def follow_requests(session: Session, *, kind: str, owner_id: int | None) -> list[Follow]:
    """Incoming follows waiting for an answer, oldest first.

    Requests to join a network are not among them: the network's managers answer
    those on its members page, which also makes the member active.
    """
    joining = exists().where(NetworkMember.follow_id == Follow.id)
    query = select(Follow).where(
        Follow.direction == "in",
        Follow.state == "pending",
        Follow.local_kind == kind,
        Follow.local_id == owner_id,
        ~joining,
    )
    return list(session.exec(query.order_by(col(Follow.created_at))))


def followers_count(session: Session, *, kind: str, owner_id: int | None) -> int:
    """How many remote actors follow this actor (accepted)."""
    query = select(func.count()).where(
        Follow.direction == "in",
        Follow.state == "accepted",
        Follow.local_kind == kind,
        Follow.local_id == owner_id,
    )
    return int(session.exec(query).one())


def _require_manager(session: Session, association: Association, by: User) -> None:
    require_permission(by, membership_of(session, association, by), "manage_settings")


def follow_remote(
    session: Session,
    *,
    config: Config,
    association: Association,
    remote: RemoteActor,
    by: User,
) -> Follow:
    """Our association asks to follow a remote actor (sends Follow; pending until Accept)."""
    _require_manager(session, association, by)
    assert remote.id is not None and association.id is not None
    if remote.is_gone:
        raise NotFound(_("This account no longer exists."))
    follow = find(
        session,
        direction="out",
        kind="association",
        owner_id=association.id,
        remote_actor_id=remote.id,
    )
    if follow is not None and follow.state in {"pending", "accepted"}:
        return follow
    activity_id = urls.new_activity_id(config)
    if follow is None:
        follow = Follow(
            direction="out",
            local_kind="association",
            local_id=association.id,
            remote_actor_id=remote.id,
            follow_activity_id=activity_id,
        )
    follow.follow_activity_id = activity_id
    _set(follow, "pending")
    session.add(follow)
    session.flush()
    me = urls.actor_uri(config, "association", association.slug)
    _send(session, config, association, remote, _follow_activity(activity_id, me, remote.uri))
    return follow


def _follow_activity(activity_id: str, actor: str, target: str) -> dict[str, Any]:
    return {
        "@context": AS2_CONTEXT,
        "id": activity_id,
        "type": "Follow",
        "actor": actor,
        "object": target,
        "to": [target],
    }


def _send(
    session: Session,
    config: Config,
    association: Association,
    remote: RemoteActor,
    activity: dict[str, Any],
) -> None:
    inbox = remote.inbox or remote.shared_inbox
    outbox.publish(
        session,
        config=config,
        actor_kind="association",
        actor_id=association.id,
        activity=activity,
        inboxes=[inbox] if inbox else [],
    )


def unfollow_remote(
    session: Session,
    *,
    config: Config,
    association: Association,
    remote: RemoteActor,
    by: User,
) -> Follow:
    """Our association stops following a remote actor (sends Undo{Follow})."""
    _require_manager(session, association, by)
    assert remote.id is not None and association.id is not None
    follow = find(
        session,
        direction="out",
        kind="association",
        owner_id=association.id,
        remote_actor_id=remote.id,
    )
    if follow is None:
        raise NotFound(_("This association does not follow that account."))
    if follow.state == "ended":
        return follow
    me = urls.actor_uri(config, "association", association.slug)
    undo = {
        "@context": AS2_CONTEXT,
        "id": urls.new_activity_id(config),
        "type": "Undo",
        "actor": me,
        "object": _follow_activity(follow.follow_activity_id, me, remote.uri),
        "to": [remote.uri],
    }
    _set(follow, "ended")
    session.add(follow)
    _send(session, config, association, remote, undo)
    session.flush()
    return follow


def following(session: Session, *, association: Association) -> list[tuple[Follow, RemoteActor]]:
    """The remote actors this association follows or asked to follow."""
    query = (
        select(Follow, RemoteActor)
        .join(RemoteActor, col(RemoteActor.id) == col(Follow.remote_actor_id))
        .where(
            Follow.direction == "out",
            Follow.local_kind == "association",
            Follow.local_id == association.id,
            col(Follow.state).in_(("pending", "accepted")),
        )
        .order_by(col(Follow.created_at))
    )
    return [(f, r) for f, r in session.exec(query)]
