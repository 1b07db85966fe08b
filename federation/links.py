"""Links between a person's accounts on two instances, with consent on both sides.

A link is a row of ``Follow`` (local_kind "user"). On the person's home
instance it goes "out": their actor here follows their actor elsewhere, which
asks that instance to send them their hours summaries. On the other instance
it comes "in": the person sees it among their link requests and accepts or
refuses it. Either side may end it at any time: ``Undo{Follow}`` from home
(``benefed:erase`` true also asks the other side to delete what it stated),
``Reject`` from the other side. Nothing about a person is ever sent before they
accept, and turning federation off ends every link of theirs.
"""

import asyncio
from typing import Any

import httpx
from sqlalchemy import delete
from sqlmodel import Session, col, or_, select

from federation import actor_keys, blocks, follows, outbox, remote_actors, urls
from federation.handles import Handle, HandleError, parse_lookup
from instance import accounts, summary_changes
from instance.config import Config
from instance.errors import Conflict, Invalid, NotFound
from instance.i18n import _
from schema.db import Database
from schema.tables import Follow, ReceivedSummary, RemoteActor, SentSummary, User
from schema.tables._base import utcnow

KIND = "user"
LIVE_STATES = ("pending", "accepted")
BENEFED_NS = "https://w3id.org/benefed/ns#"
ERASE_TERM = "benefed:erase"
ERASE_IRI = BENEFED_NS + "erase"
CONTEXT: list[Any] = [follows.AS2_CONTEXT, {"benefed": BENEFED_NS}]
MAX_ACCOUNT = 2048
MAX_LIMIT = 200


def account_of(remote: RemoteActor) -> str:
    """The handle name@host of a remote actor (its URL when it has no user name)."""
    name = remote.preferred_username
    return f"{name}@{remote.host}" if name else remote.uri


def require_federation(config: Config, user: User) -> None:
    """Conflict unless the instance federates and the person turned federation on."""
    if not config.federation.enabled:
        raise Conflict(_("This instance does not talk to other instances."))
    if not user.federation_enabled:
        raise Conflict(
            _("Federation is turned off in your settings. Turn it on before linking your accounts.")
        )


def check_account(config: Config, account: Any) -> Handle | str:
    """What the person typed, as a handle or an actor URL elsewhere; Invalid otherwise."""
    message = _("Enter your account like name@example.org.")
    if not isinstance(account, str) or not account.strip() or len(account) > MAX_ACCOUNT:
        raise Invalid({"account": message})
    try:
        parsed = parse_lookup(account)
    except HandleError:
        raise Invalid({"account": message}) from None
    local = (
        parsed.host == config.domain.lower()
        if isinstance(parsed, Handle)
        else urls.is_local(config, parsed)
    )
    if local:
        raise Invalid(
            {"account": _("This account is on this instance. Enter your account elsewhere.")}
        )
    return parsed


def _fresh_user(session: Session, user: User) -> User:
    row = session.get(User, user.id)
    if row is None:
        raise NotFound(_("No such account."))
    return row


async def request_link(
    db: Database, client: httpx.AsyncClient, config: Config, *, user: User, account: str
) -> Follow:
    """Resolve account (name@host) and ask it for a link; the same link when asked before."""
    await asyncio.to_thread(_check_user, db, config, user)
    check_account(config, account)
    try:
        remote = await remote_actors.resolve_handle(db, client, config, account.strip())
    except (remote_actors.RemoteActorError, httpx.HTTPError):
        raise Invalid(
            {
                "account": _(
                    "No account was found at this address. Check it, and check that "
                    "federation is turned on in the settings of that account."
                )
            }
        ) from None
    return await asyncio.to_thread(_record, db, config, user, remote)


def _check_user(db: Database, config: Config, user: User) -> None:
    with db.read() as session:
        require_federation(config, _fresh_user(session, user))


def _record(db: Database, config: Config, user: User, remote: RemoteActor) -> Follow:
    with db.write() as session:
        row = session.get(RemoteActor, remote.id)
        if row is None:
            raise NotFound(_("This account no longer exists."))
        return record_request(session, config=config, user=user, remote=row)


def record_request(session: Session, *, config: Config, user: User, remote: RemoteActor) -> Follow:
    """Ask a resolved remote actor for a link (sends Follow); pending and active ones stay."""
    user = _fresh_user(session, user)
    require_federation(config, user)
    assert user.id is not None and remote.id is not None
    if remote.is_gone:
        raise Invalid({"account": _("This account no longer exists.")})
    if remote.type != "Person":
        raise Invalid(
            {"account": _("This is not a person's account. Enter your own account elsewhere.")}
        )
    if blocks.is_blocked(session, host=remote.host, actor_uri=remote.uri):
        raise Invalid({"account": _("This instance does not talk to that account.")})
    link = follows.find(
        session, direction="out", kind=KIND, owner_id=user.id, remote_actor_id=remote.id
    )
    if link is not None and link.state in LIVE_STATES:
        return link
    activity_id = urls.new_activity_id(config)
    link = link or Follow(
        direction="out",
        local_kind=KIND,
        local_id=user.id,
        remote_actor_id=remote.id,
        follow_activity_id=activity_id,
    )
    link.follow_activity_id = activity_id
    _set(link, "pending")
    session.add(link)
    session.flush()
    actor_keys.ensure_keys(session, config=config, kind=KIND, owner_id=user.id)
    me = _me(session, config, user.id)
    _send(session, config, user.id, remote, _follow(activity_id, me, remote.uri))
    return link


def _set(link: Follow, state: str) -> None:
    link.state = state
    link.updated_at = utcnow()


def _me(session: Session, config: Config, user_id: int | None) -> str:
    return follows.local_uri(session, config, KIND, user_id)


def _follow(activity_id: str, actor: str, target: str) -> dict[str, Any]:
    return {"id": activity_id, "type": "Follow", "actor": actor, "object": target}


def _send(
    session: Session,
    config: Config,
    user_id: int | None,
    remote: RemoteActor,
    activity: dict[str, Any],
) -> None:
    inbox = remote.inbox or remote.shared_inbox
    body = {"@context": CONTEXT, **activity, "to": [remote.uri]}
    outbox.publish(
        session,
        config=config,
        actor_kind=KIND,
        actor_id=user_id,
        activity=body,
        inboxes=[inbox] if inbox else [],
    )


def _links(user: User, direction: str, after: int | None, limit: int | None) -> Any:
    query = (
        select(Follow, RemoteActor)
        .join(RemoteActor, col(RemoteActor.id) == col(Follow.remote_actor_id))
        .where(
            Follow.direction == direction,
            Follow.local_kind == KIND,
            Follow.local_id == user.id,
        )
        .order_by(col(Follow.id))
    )
    if limit is not None:
        query = query.limit(max(1, min(limit, MAX_LIMIT + 1)))
    if after is not None:
        query = query.where(col(Follow.id) > after)
    return query


def list_links(
    session: Session, *, user: User, after: int | None = None, limit: int | None = 50
) -> list[tuple[Follow, RemoteActor]]:
    """My accounts elsewhere (links asked from here), by id after the cursor."""
    return [(f, r) for f, r in session.exec(_links(user, "out", after, limit))]


def link_requests(
    session: Session, *, user: User, after: int | None = None, limit: int | None = 50
) -> list[tuple[Follow, RemoteActor]]:
    """Requests from elsewhere to receive my hours (every state), by id after the cursor."""
    return [(f, r) for f, r in session.exec(_links(user, "in", after, limit))]


def _get(session: Session, user: User, link_id: Any, direction: str) -> tuple[Follow, RemoteActor]:
    link = session.get(Follow, link_id) if isinstance(link_id, int) else None
    if (
        link is None
        or link.direction != direction
        or link.local_kind != KIND
        or link.local_id != user.id
    ):
        raise NotFound(_("No such link."))
    remote = session.get(RemoteActor, link.remote_actor_id)
    if remote is None:
        raise NotFound(_("No such link."))
    return link, remote


def get_link(session: Session, *, user: User, link_id: int) -> tuple[Follow, RemoteActor]:
    """One of my links (asked from here); NotFound for anyone else's."""
    return _get(session, user, link_id, "out")


def get_request(session: Session, *, user: User, link_id: int) -> tuple[Follow, RemoteActor]:
    """One request to receive my hours; NotFound for anyone else's."""
    return _get(session, user, link_id, "in")


def end_link(
    session: Session, *, config: Config, user: User, link_id: int, erase: bool = False
) -> Follow:
    """End one of my links (sends Undo{Follow}); erase also deletes what it brought.

    With erase, the Undo carries ``benefed:erase`` so the other side deletes the
    summaries it stated, and the summaries received here through it are deleted.
    Ending an ended or refused link again does nothing, unless erase is asked.
    """
    link, remote = get_link(session, user=user, link_id=link_id)
    if link.state in LIVE_STATES or erase:
        _undo(session, config, link, remote, erase=erase)
    if link.state in LIVE_STATES:
        _set(link, "ended")
        session.add(link)
    if erase:
        erase_received(session, user_id=user.id, link=link, remote=remote)
    session.flush()
    return link


def _undo(
    session: Session, config: Config, link: Follow, remote: RemoteActor, *, erase: bool
) -> None:
    me = _me(session, config, link.local_id)
    undo: dict[str, Any] = {
        "id": urls.new_activity_id(config),
        "type": "Undo",
        "actor": me,
        "object": _follow(link.follow_activity_id, me, remote.uri),
    }
    if erase:
        undo[ERASE_TERM] = True
    _send(session, config, link.local_id, remote, undo)


def erase_received(
    session: Session, *, user_id: int | None, link: Follow, remote: RemoteActor
) -> int:
    """Delete the summaries received through a link (home side); how many."""
    statement = delete(ReceivedSummary).where(
        col(ReceivedSummary.user_id) == user_id,
        or_(
            col(ReceivedSummary.follow_id) == link.id,
            col(ReceivedSummary.subject_uri) == remote.uri,
        ),
    )
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


def wants_erase(activity: dict[str, Any]) -> bool:
    """True when an Undo asks the other side to delete what it stated (``benefed:erase``)."""
    return activity.get(ERASE_TERM) is True or activity.get(ERASE_IRI) is True


def erase_sent(session: Session, *, user_id: int | None) -> int:
    """Delete the summaries stated about a person (issuing side) unless a link stays active."""
    if user_id is None or has_active_request(session, user_id=user_id):
        return 0
    statement = delete(SentSummary).where(col(SentSummary.user_id) == user_id)
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


def has_active_request(session: Session, *, user_id: int) -> bool:
    """True when the person accepted a link request that is still active."""
    query = select(Follow.id).where(
        Follow.direction == "in",
        Follow.local_kind == KIND,
        Follow.local_id == user_id,
        Follow.state == "accepted",
    )
    return session.exec(query).first() is not None


def accept_request(session: Session, *, config: Config, user: User, link_id: int) -> Follow:
    """Accept a request (sends Accept) and note every month to send; 409 unless pending."""
    user = _fresh_user(session, user)
    link, _remote = get_request(session, user=user, link_id=link_id)
    require_federation(config, user)
    was = link.state
    follows.accept_follower(session, config=config, follow_id=link_id, by=user)
    if was != "accepted":
        assert user.id is not None
        summary_changes.mark_all_for_user(session, user_id=user.id)
    return link


def refuse_request(session: Session, *, config: Config, user: User, link_id: int) -> Follow:
    """Refuse a request, or end an active link (sends Reject); nothing more is sent."""
    link, _remote = get_request(session, user=user, link_id=link_id)
    was = link.state
    follows.reject_follower(session, config=config, follow_id=link_id, by=user)
    if was == "accepted":
        _set(link, "ended")
        session.add(link)
        session.flush()
    return link


def end_all_links(session: Session, *, config: Config, user: User) -> int:
    """End every live link of the person, both ways (federation turned off); how many."""
    ended = 0
    for link, _remote in list_links(session, user=user, limit=None):
        if link.state in LIVE_STATES:
            assert link.id is not None
            end_link(session, config=config, user=user, link_id=link.id)
            ended += 1
    for link, _remote in link_requests(session, user=user, limit=None):
        if link.state in LIVE_STATES:
            assert link.id is not None
            refuse_request(session, config=config, user=user, link_id=link.id)
            ended += 1
    return ended


def set_federation(session: Session, *, config: Config, user: User, enabled: bool) -> User:
    """Turn the person's actor on or off; turning it off ends every link of theirs."""
    row = _fresh_user(session, user)
    if not enabled and row.federation_enabled:
        end_all_links(session, config=config, user=row)
    return accounts.update_profile(session, user=row, federation_enabled=enabled)
