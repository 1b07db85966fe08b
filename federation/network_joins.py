"""Joining a network over ActivityPub, on both sides.

Member side: a manager asks to join a network by its handle; a ``NetworkLink``
(pending) and a ``Follow`` (out) are written and a Follow carrying
``networkMembership`` (and ``listedAnonymously``) is published to the network.
Its Accept makes the link active (every month is then noted to report), its
Reject makes it refused, or left when it was active. Leaving sends
Undo{Follow}, with ``erase`` when the association asks the network to delete
its reports.

Network side: such a Follow becomes a pending ``NetworkMember`` (name and
isNetwork from the follower's actor document); the managers' decisions change
its status through instance.network_members and answer with Accept or Reject;
an Undo means the member left (with ``erase``, its reports are marked deleted).

A network on the same instance is joined directly: nothing travels, both rows
change in the same transaction (their ``follow_id`` stays empty).
"""

from dataclasses import dataclass
from typing import Any

import httpx
from sqlmodel import Session, select

from federation import (
    blocks,
    follows,
    network_terms,
    outbox,
    remote_actors,
    reports_out,
    urls,
)
from federation.handles import Handle, HandleError, parse_lookup
from federation.network_requests import (
    CONTEXT,
    KIND,
    flag,
    local_leave,
    local_request,
    set_follow,
)
from instance import associations, network_links, networks
from instance.config import Config
from instance.errors import Invalid
from instance.i18n import N_, _
from instance.network_privacy import DEFAULT_THRESHOLD, OTHER
from schema.db import Database
from schema.tables import Association, Follow, NetworkLink, RemoteActor, User

MAX_HANDLE = 2048
NOT_FOUND = N_("No network was found at this address. Check it and try again.")


@dataclass(frozen=True)
class Target:
    """A network to join: a remote actor, or one of our associations."""

    uri: str
    remote: RemoteActor | None = None
    local: Association | None = None


def is_membership(activity: dict[str, Any]) -> bool:
    """True when a Follow asks to join a network (``networkMembership``)."""
    return flag(activity, "networkMembership")


# -- member side -----------------------------------------------------------------------


def check_handle(config: Config, value: object) -> Handle | str:
    """What the manager typed, as a handle or an actor URL; Invalid otherwise."""
    message = _("Enter the network's address, like name@example.org.")
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_HANDLE:
        raise Invalid({"network": message})
    try:
        return parse_lookup(value)
    except HandleError:
        raise Invalid({"network": message}) from None


def _local_slug(config: Config, parsed: Handle | str) -> str | None:
    if isinstance(parsed, Handle):
        return parsed.name if parsed.host == config.domain.lower() else None
    found = urls.parse_local_actor(config, parsed)
    if found is not None and found[0] == KIND:
        return found[1]
    if urls.is_local(config, parsed):
        raise Invalid({"network": _(NOT_FOUND)})
    return None


def _local_target(db: Database, config: Config, slug: str) -> Target:
    with db.read() as session:
        found = session.exec(select(Association).where(Association.slug == slug)).first()
    if found is None or found.is_hidden or found.is_suspended or found.is_archived:
        raise Invalid({"network": _(NOT_FOUND)})
    return Target(urls.actor_uri(config, KIND, found.slug), local=found)


async def resolve(
    db: Database, client: httpx.AsyncClient, config: Config, handle: object
) -> Target:
    """The network named by a handle, here or elsewhere (its actor fetched); Invalid if none."""
    parsed = check_handle(config, handle)
    slug = _local_slug(config, parsed)
    if slug is not None:
        return _local_target(db, config, slug)
    if not config.federation.enabled:
        raise Invalid({"network": _("This instance does not talk to other instances.")})
    try:
        remote = await remote_actors.resolve_handle(db, client, config, str(handle).strip())
        if network_terms.terms_of_actor(remote) is None:  # a copy cached before it was one
            remote = await remote_actors.fetch_actor(db, client, config, remote.uri, force=True)
    except (remote_actors.RemoteActorError, httpx.HTTPError):
        raise Invalid({"network": _(NOT_FOUND)}) from None
    return Target(remote.uri, remote=remote)


def _require_manager(session: Session, association: Association, by: User) -> None:
    membership = associations.membership_of(session, association, by)
    associations.require_permission(by, membership, "manage_settings")


def _check_target(session: Session, association: Association, target: Target) -> None:
    not_network = {"network": _("This account is not a network of associations.")}
    if target.local is not None:
        if target.local.id == association.id:
            raise Invalid({"network": _("An association cannot join itself.")})
        if not target.local.is_network:
            raise Invalid(not_network)
        return
    remote = target.remote
    assert remote is not None
    if remote.is_gone:
        raise Invalid({"network": _("This network no longer exists.")})
    if blocks.is_blocked(session, host=remote.host, actor_uri=remote.uri):
        raise Invalid({"network": _("This instance does not talk to that network.")})
    if network_terms.terms_of_actor(remote) is None:
        raise Invalid(not_network)


def request_join(
    session: Session,
    *,
    config: Config,
    association: Association,
    by: User,
    target: Target,
    anonymous: bool = False,
) -> NetworkLink:
    """Ask to join a resolved network (Follow sent, or the request recorded here); pending."""
    _require_manager(session, association, by)
    assert association.id is not None
    if target.remote is not None:
        target = Target(target.uri, remote=session.get(RemoteActor, target.remote.id))
        if target.remote is None:
            raise Invalid({"network": _(NOT_FOUND)})
    _check_target(session, association, target)
    link = network_links.find_link(session, association_id=association.id, network_uri=target.uri)
    if link is not None and link.status in network_links.LIVE:
        done = _("You already asked to join this network.")
        if link.status == "active":
            done = _("This association is already a member of this network.")
        raise Invalid({"network": done})
    link = link or NetworkLink(association_id=association.id, network_uri=target.uri)
    link.anonymous = anonymous
    network_links.set_status(session, link=link, status="pending")
    if target.remote is not None:
        link.follow_id = _send_follow(session, config, association, target.remote, anonymous)
        session.add(link)
    elif target.local is not None:
        local_request(session, config, association, target.local, anonymous)
    session.flush()
    return link


def _send_follow(
    session: Session, config: Config, association: Association, remote: RemoteActor, anonymous: bool
) -> int | None:
    assert remote.id is not None
    follow = follows.find(
        session, direction="out", kind=KIND, owner_id=association.id, remote_actor_id=remote.id
    )
    activity_id = urls.new_activity_id(config)
    follow = follow or Follow(
        direction="out",
        local_kind=KIND,
        local_id=association.id,
        remote_actor_id=remote.id,
        follow_activity_id=activity_id,
    )
    follow.follow_activity_id = activity_id
    set_follow(follow, "pending")
    session.add(follow)
    session.flush()
    me = urls.actor_uri(config, KIND, association.slug)
    activity = {
        **_follow(activity_id, me, remote.uri),
        "networkMembership": True,
        "listedAnonymously": anonymous,
    }
    _publish(session, config, association.id, remote, activity)
    return follow.id


def _follow(activity_id: str, actor: str, target: str) -> dict[str, Any]:
    return {"id": activity_id, "type": "Follow", "actor": actor, "object": target}


def _publish(
    session: Session,
    config: Config,
    actor_id: int | None,
    remote: RemoteActor,
    activity: dict[str, Any],
) -> None:
    session.flush()
    inbox = remote.inbox or remote.shared_inbox
    outbox.publish(
        session,
        config=config,
        actor_kind=KIND,
        actor_id=actor_id,
        activity={"@context": CONTEXT, **activity, "to": [remote.uri]},
        inboxes=[inbox] if inbox else [],
    )


def leave(
    session: Session,
    *,
    config: Config,
    association: Association,
    by: User,
    link: NetworkLink,
    erase: bool = False,
) -> NetworkLink:
    """Leave a network (or withdraw the request): Undo{Follow}, with erase when asked."""
    _require_manager(session, association, by)
    live = link.status in network_links.LIVE
    if not live and not erase:
        return link
    if live:
        network_links.set_status(session, link=link, status="left")
    slug = network_links.local_slug(config, link.network_uri)
    if slug is not None:
        local_leave(session, config, association, slug, erase=erase)
        return link
    remote = network_links.remote_of(session, link)
    follow = session.get(Follow, link.follow_id) if link.follow_id is not None else None
    if remote is None or follow is None:
        return link
    if erase:
        reports_out.delete_reports(session, config, link)  # a Delete of each report sent
    me = urls.actor_uri(config, KIND, association.slug)
    undo: dict[str, Any] = {
        "id": urls.new_activity_id(config),
        "type": "Undo",
        "actor": me,
        "object": _follow(follow.follow_activity_id, me, remote.uri),
    }
    if erase:
        undo["erase"] = True
    set_follow(follow, "ended")
    session.add(follow)
    _publish(session, config, association.id, remote, undo)
    return link


def _our_links(session: Session, remote: RemoteActor, reference: Any) -> list[NetworkLink]:
    """The links to this network that an answer (Accept/Reject of our Follow) is about."""
    query = (
        select(NetworkLink, Follow)
        .join(Follow, Follow.id == NetworkLink.follow_id)  # type: ignore[arg-type]
        .where(NetworkLink.network_uri == remote.uri, Follow.remote_actor_id == remote.id)
    )
    wanted = reference.get("id") if isinstance(reference, dict) else reference
    rows = list(session.exec(query))
    if isinstance(wanted, str) and wanted:
        exact = [link for link, follow in rows if follow.follow_activity_id == wanted]
        if exact:
            return exact
    if not isinstance(reference, dict):
        return []
    actor = reference.get("actor")
    return [link for link, follow in rows if _is_actor_of(session, link, actor)]


def _is_actor_of(session: Session, link: NetworkLink, actor: Any) -> bool:
    association = session.get(Association, link.association_id)
    return (
        association is not None
        and isinstance(actor, str)
        and actor.rstrip("/").endswith(f"/associations/{association.slug}")
    )


def on_answer(
    session: Session, remote: RemoteActor | None, activity: dict[str, Any], accepted: bool
) -> None:
    """The network answered our request: Accept (active) or Reject (refused, or left)."""
    if remote is None:
        return
    for link in _our_links(session, remote, activity.get("object")):
        follow = session.get(Follow, link.follow_id)
        if accepted and link.status == "pending":
            network_links.set_status(session, link=link, status="active")
            if follow is not None:
                set_follow(follow, "accepted")
        elif not accepted and link.status in network_links.LIVE:
            left = link.status == "active"
            network_links.set_status(session, link=link, status="left" if left else "refused")
            if follow is not None:
                set_follow(follow, "ended" if left else "rejected")
        if follow is not None:
            session.add(follow)


def terms_for(session: Session, config: Config, link: NetworkLink) -> network_terms.NetworkTerms:
    """The threshold and reference categories the network publishes (ours read directly).

    A network that no longer publishes them offers only "other".
    """
    slug = network_links.local_slug(config, link.network_uri)
    if slug is not None:
        network = session.exec(select(Association).where(Association.slug == slug)).first()
        if network is None or not network.is_network:
            return network_terms.NetworkTerms(threshold=DEFAULT_THRESHOLD, categories={})
        listed = networks.list_categories(session, network=network)
        return network_terms.NetworkTerms(
            threshold=networks.profile_of(session, network).threshold,
            categories={c.key: c.label for c in listed if c.key != OTHER},
        )
    remote = network_links.remote_of(session, link)
    found = network_terms.terms_of_actor(remote) if remote is not None else None
    return found or network_terms.NetworkTerms(threshold=DEFAULT_THRESHOLD, categories={})


def set_mapping(
    session: Session,
    *,
    config: Config,
    association: Association,
    by: User,
    link: NetworkLink,
    mapping: object,
) -> NetworkLink:
    """Map the association's categories onto the network's (manage_settings)."""
    _require_manager(session, association, by)
    terms = terms_for(session, config, link)
    return network_links.set_mapping(session, link=link, mapping=mapping, terms=terms.keys)
