"""Requests to join our networks, received over ActivityPub, and the managers' answers.

A Follow carrying ``networkMembership`` to one of our networks becomes a
pending ``NetworkMember`` (name and isNetwork from the follower's actor
document, anonymity from ``listedAnonymously``); asking again after leaving or
a refusal makes it pending again. The managers' decisions change its status
through instance.network_members and answer with Accept or Reject (Reject also
ends an active membership). An Undo means the member left; with ``erase`` its
reports are marked deleted so the dashboard drops them. Members on this same
instance have no Follow: their ``NetworkLink`` changes in the same transaction.
"""

from typing import Any

from sqlmodel import Session, select

from federation import actor_documents, documents, follows, outbox, urls
from instance import network_links, network_members
from instance.config import Config
from instance.network_reports import save_report
from schema.tables import Association, Follow, NetworkMember, ReceivedReport, RemoteActor, User
from schema.tables._base import utcnow

BENEFED_NS = documents.BENEFED_NS
TERMS: dict[str, Any] = {
    "benefed": BENEFED_NS,
    "networkMembership": "benefed:networkMembership",
    "listedAnonymously": "benefed:listedAnonymously",
    "erase": "benefed:erase",
}
CONTEXT: list[Any] = [follows.AS2_CONTEXT, TERMS]
KIND = "association"
MEMBER_TYPES = frozenset({"Organization", "Group"})  # associations and networks, not people


def flag(activity: dict[str, Any], term: str) -> bool:
    """True when the activity sets a benefed term to true (short, prefixed or full name)."""
    return any(activity.get(name) is True for name in (term, f"benefed:{term}", BENEFED_NS + term))


def wants_erase(activity: dict[str, Any]) -> bool:
    """True when an Undo asks the network to delete the member's reports (``erase``)."""
    return flag(activity, "erase")


def set_follow(follow: Follow, state: str) -> None:
    """Move a Follow row to a state (pending, accepted, rejected, ended)."""
    follow.state = state
    follow.updated_at = utcnow()


def _answer(
    session: Session,
    config: Config,
    network: Association,
    remote: RemoteActor,
    follow_activity_id: str,
    kind: str,
) -> None:
    """Queue an Accept or Reject of a request to join, from the network's actor."""
    me = urls.actor_uri(config, KIND, network.slug)
    inner = {"id": follow_activity_id, "type": "Follow", "actor": remote.uri, "object": me}
    activity = {
        "@context": follows.AS2_CONTEXT,
        "id": urls.new_activity_id(config),
        "type": kind,
        "actor": me,
        "object": inner,
        "to": [remote.uri],
    }
    inbox = remote.inbox or remote.shared_inbox
    outbox.publish(
        session,
        config=config,
        actor_kind=KIND,
        actor_id=network.id,
        activity=activity,
        inboxes=[inbox] if inbox else [],
    )


def _member(session: Session, network_id: int | None, actor_uri: str) -> NetworkMember | None:
    query = select(NetworkMember).where(
        NetworkMember.network_id == network_id, NetworkMember.actor_uri == actor_uri
    )
    return session.exec(query).first()


def _upsert_member(
    session: Session, network: Association, actor_uri: str, *, name: str, is_network: bool
) -> NetworkMember:
    member = _member(session, network.id, actor_uri)
    if member is None:
        assert network.id is not None
        member = NetworkMember(network_id=network.id, actor_uri=actor_uri[:2048])
    if member.status != "active":
        member.status = "pending"
    member.name = name[:255]
    member.is_network = is_network
    member.updated_at = utcnow()
    return member


def receive_request(
    session: Session,
    *,
    config: Config,
    remote: RemoteActor,
    local: documents.LocalActor,
    activity: dict[str, Any],
) -> NetworkMember | None:
    """A Follow with networkMembership reached one of our actors: a pending request to join.

    An actor that is not one of our networks answers Reject at once; an active
    member asking again is accepted again (it may have lost its state).
    """
    follow_activity_id = str(activity.get("id") or "")[:2048]
    network = local.association
    if network is None or not network.is_network or remote.type not in MEMBER_TYPES:
        if network is not None:  # not a network, or a person asking to be a member
            _answer(session, config, network, remote, follow_activity_id, "Reject")
        return None
    assert remote.id is not None
    follow = follows.find(
        session, direction="in", kind=KIND, owner_id=network.id, remote_actor_id=remote.id
    )
    follow = follow or Follow(
        direction="in",
        local_kind=KIND,
        local_id=network.id,
        remote_actor_id=remote.id,
        follow_activity_id=follow_activity_id,
    )
    follow.follow_activity_id = follow_activity_id
    name = remote.name or remote.preferred_username
    is_network = actor_documents.stored_document(remote).get("isNetwork") is True
    member = _upsert_member(session, network, remote.uri, name=name, is_network=is_network)
    member.anonymous = flag(activity, "listedAnonymously")
    set_follow(follow, "accepted" if member.status == "active" else "pending")
    session.add(follow)
    session.flush()
    member.follow_id = follow.id
    session.add(member)
    session.flush()
    if member.status == "active":
        _answer(session, config, network, remote, follow_activity_id, "Accept")
    return member


DECISIONS = {
    "accept": (network_members.accept_request, "accepted", "Accept", "active"),
    "refuse": (network_members.refuse_request, "rejected", "Reject", "refused"),
    "remove": (network_members.remove_member, "ended", "Reject", "left"),
}


def decide(
    session: Session,
    *,
    config: Config,
    network: Association,
    member: NetworkMember,
    by: User,
    decision: str,
) -> NetworkMember:
    """Accept, refuse or remove a member (manage_members) and tell the association."""
    change, state, answer, status = DECISIONS[decision]
    change(session, network=network, member=member, by=by)
    follow = session.get(Follow, member.follow_id) if member.follow_id is not None else None
    remote = session.get(RemoteActor, follow.remote_actor_id) if follow is not None else None
    if follow is not None and remote is not None:
        set_follow(follow, state)
        session.add(follow)
        _answer(session, config, network, remote, follow.follow_activity_id, answer)
    elif follow is None:
        _local_answer(session, config, network, member, status)
    session.flush()
    return member


def _local_answer(
    session: Session, config: Config, network: Association, member: NetworkMember, status: str
) -> None:
    """A member on this instance: its link changes at once."""
    slug = network_links.local_slug(config, member.actor_uri)
    if slug is None:
        return
    found = session.exec(select(Association).where(Association.slug == slug)).first()
    if found is None or found.id is None:
        return
    link = network_links.find_link(
        session, association_id=found.id, network_uri=urls.actor_uri(config, KIND, network.slug)
    )
    wanted = {"active": ("pending",), "refused": ("pending",), "left": network_links.LIVE}
    if link is not None and link.status in wanted[status]:
        network_links.set_status(session, link=link, status=status)


def local_request(
    session: Session,
    config: Config,
    association: Association,
    network: Association,
    anonymous: bool,
) -> None:
    """One of our associations asks to join one of our networks: a pending member at once."""
    uri = urls.actor_uri(config, KIND, association.slug)
    member = _upsert_member(
        session, network, uri, name=association.name, is_network=association.is_network
    )
    member.status, member.anonymous, member.follow_id = "pending", anonymous, None
    session.add(member)


def local_leave(
    session: Session, config: Config, association: Association, slug: str, *, erase: bool
) -> None:
    """One of our associations leaves one of our networks (the slug): its member row at once."""
    network = session.exec(select(Association).where(Association.slug == slug)).first()
    if network is None:
        return
    member = _member(session, network.id, urls.actor_uri(config, KIND, association.slug))
    if member is not None:
        member_left(session, member, erase=erase)


def member_left(session: Session, member: NetworkMember, *, erase: bool) -> NetworkMember:
    """The association left (or withdrew its request); erase marks its reports deleted."""
    if member.status in {"pending", "active"}:
        member.status = "left"
        member.updated_at = utcnow()
        session.add(member)
    if erase:
        erase_reports(session, member)
    session.flush()
    return member


def erase_reports(session: Session, member: NetworkMember) -> int:
    """Mark every report of a member deleted (the dashboard drops them); how many."""
    query = select(ReceivedReport).where(
        ReceivedReport.member_id == member.id,
        ReceivedReport.deleted == False,  # noqa: E712
    )
    erased = 0
    for report in list(session.exec(query)):
        report.deleted = True
        save_report(session, report)
        erased += 1
    return erased


def on_undo(
    session: Session,
    *,
    config: Config,
    remote: RemoteActor,
    follow: Follow | None,
    activity: dict[str, Any],
) -> None:
    """An association took back its request or left one of our networks."""
    member = None
    if follow is not None and follow.direction == "in":
        query = select(NetworkMember).where(NetworkMember.follow_id == follow.id)
        member = session.exec(query).first()
    inner = activity.get("object")
    if member is None and isinstance(inner, dict):
        target = urls.parse_local_actor(config, str(inner.get("object") or ""))
        if target is not None and target[0] == KIND and target[1]:
            query = select(Association).where(Association.slug == target[1])
            network = session.exec(query).first()
            member = _member(session, network.id, remote.uri) if network is not None else None
    if member is not None and member.actor_uri == remote.uri:
        member_left(session, member, erase=wants_erase(activity))
