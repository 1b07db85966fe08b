"""The members of a network, on the network's instance: requests, decisions, listings.

Joining is a Follow from an association's actor to the network's actor;
federation stores it as a pending ``NetworkMember``. The functions here only
change the row's status and return it. Answering the association is
federation's work: the web layer takes the returned row (its ``follow_id``
names the Follow to answer) and hands it over to send Accept, Reject or the end
of membership. So a decision is complete, and testable, without any traffic,
and federation alone decides how and when the answer leaves.
"""

from functools import lru_cache
from urllib.parse import urlsplit

from sqlmodel import Session, col, func, select

from instance import associations
from instance.errors import Conflict, Invalid, NotFound
from instance.i18n import N_, _
from schema.tables import Association, NetworkMember, User
from schema.tables._base import utcnow
from schema.tables.networks import MEMBER_STATUSES

ANONYMOUS_NAME = N_("An association (anonymous)")


@lru_cache(maxsize=4096)
def host_of_uri(actor_uri: str) -> str:
    """The host of an actor's address (a pure function: the dashboard asks for 1,000 a page)."""
    return urlsplit(actor_uri).hostname or ""


def host_of(member: NetworkMember) -> str:
    """The instance that hosts the member (the host of its actor)."""
    return host_of_uri(member.actor_uri)


def name_or_host(name: str, actor_uri: str) -> str:
    """A member's name, else the host of its actor, else its actor."""
    return name or host_of_uri(actor_uri) or actor_uri


def display_name(member: NetworkMember) -> str:
    """The member's name as its managers see it (its host if it sent none)."""
    return name_or_host(member.name, member.actor_uri)


def public_name(member: NetworkMember) -> str:
    """The member's name as the public sees it: none when it asked to be anonymous."""
    return _(ANONYMOUS_NAME) if member.anonymous else display_name(member)


def check_status(status: str, *, field: str = "status") -> str:
    """A membership status, or "all"; raise Invalid."""
    if status != "all" and status not in MEMBER_STATUSES:
        raise Invalid({field: _("Choose pending, active, refused, left or all.")})
    return status


def list_members(
    session: Session,
    *,
    network: Association,
    status: str = "active",
    after: int | None = None,
    limit: int = 50,
) -> list[NetworkMember]:
    """The network's members (or requests) of a status, by id, after a position."""
    query = select(NetworkMember).where(NetworkMember.network_id == network.id)
    if check_status(status) != "all":
        query = query.where(NetworkMember.status == status)
    if after is not None:
        query = query.where(col(NetworkMember.id) > after)
    return list(session.exec(query.order_by(col(NetworkMember.id)).limit(limit)).all())


def members_count(session: Session, network: Association) -> int:
    """How many active members the network has."""
    query = select(func.count()).where(
        NetworkMember.network_id == network.id, NetworkMember.status == "active"
    )
    return int(session.exec(query).one())


def pending_count(session: Session, network: Association) -> int:
    """How many requests to join wait for an answer."""
    query = select(func.count()).where(
        NetworkMember.network_id == network.id, NetworkMember.status == "pending"
    )
    return int(session.exec(query).one())


def get_member(session: Session, *, network: Association, member_id: object) -> NetworkMember:
    """One member or request of the network, by id; raise NotFound."""
    if isinstance(member_id, str) and member_id.isdigit() and len(member_id) < 19:
        member_id = int(member_id)
    if not isinstance(member_id, int) or isinstance(member_id, bool) or not 0 < member_id < 2**31:
        raise NotFound(_("No such member."))
    member = session.get(NetworkMember, member_id)
    if member is None or member.network_id != network.id:
        raise NotFound(_("No such member."))
    return member


def _decide(
    session: Session, *, network: Association, member: NetworkMember, by: User, status: str
) -> NetworkMember:
    membership = associations.membership_of(session, network, by)
    associations.require_permission(by, membership, "manage_members")
    wanted = "pending" if status in {"active", "refused"} else "active"
    if member.status != wanted:
        if wanted == "pending":
            raise Conflict(_("This request was already answered."))
        raise Conflict(_("This association is not a member of the network."))
    member.status = status
    member.updated_at = utcnow()
    session.add(member)
    session.flush()
    return member


def accept_request(
    session: Session, *, network: Association, member: NetworkMember, by: User
) -> NetworkMember:
    """Accept a pending request to join (manage_members); the web layer sends the Accept."""
    return _decide(session, network=network, member=member, by=by, status="active")


def refuse_request(
    session: Session, *, network: Association, member: NetworkMember, by: User
) -> NetworkMember:
    """Refuse a pending request to join (manage_members); the web layer sends the Reject."""
    return _decide(session, network=network, member=member, by=by, status="refused")


def remove_member(
    session: Session, *, network: Association, member: NetworkMember, by: User
) -> NetworkMember:
    """End an active membership (manage_members); its reports stay unless it asks erasure."""
    return _decide(session, network=network, member=member, by=by, status="left")
