"""Memberships: joining, requests, leaving, roles and managers' permissions.

A membership row is never deleted nor replaced while its association lives: a
person who left or was refused and asks again gets the same row back, so the
actions recorded before keep pointing at it.
"""

from datetime import datetime

from sqlmodel import Session, case, col, func, select

from instance.associations import can_see, is_owner, membership_of, require_permission
from instance.errors import Conflict, Forbidden, Invalid, NotFound
from instance.i18n import _
from instance.permissions import PERMISSIONS, has_permission, permission_flags
from schema.tables import Association, Membership, User
from schema.tables._base import utcnow
from schema.tables.associations import MEMBER_STATUSES, ROLES

MESSAGE_MAX = 1000
MEMBERS_PAGE_SIZE = 50
STATUS_ORDER = {"pending": 0, "active": 1, "refused": 2, "left": 3}


def _reset(membership: Membership, *, role: str = "volunteer") -> None:
    membership.role = role
    for name in PERMISSIONS:
        setattr(membership, f"perm_{name}", False)


def _decide(membership: Membership, status: str, by: User | None) -> None:
    now = utcnow()
    membership.status = status
    membership.decided_by_id = by.id if by is not None else None
    membership.decided_at = now
    membership.updated_at = now


def check_open_for_joining(association: Association) -> None:
    """Raise Forbidden when the association takes no new members at all."""
    if association.is_archived:
        raise Forbidden(_("This association is archived: it takes no new members."))
    if association.is_suspended:
        raise Forbidden(_("This association is suspended."))


def join(
    session: Session, *, association: Association, user: User, message: str = ""
) -> Membership:
    """Join (open) or ask to join (moderated); reuses a former membership row."""
    membership = membership_of(session, association, user)
    if not can_see(association, user, membership):
        raise NotFound(_("No such association."))
    check_open_for_joining(association)
    if membership is not None and membership.status in {"active", "pending"}:
        if membership.status == "active":
            raise Conflict(_("You are already a member of this association."))
        raise Conflict(_("Your request to join is already waiting for an answer."))
    if association.join_policy == "invitation":
        raise Forbidden(_("This association takes new members by invitation only."))
    message = message.strip()
    if len(message) > MESSAGE_MAX:
        raise Invalid({"message": _("Use at most 1000 characters.")})
    if membership is None:
        assert association.id is not None
        membership = Membership(association_id=association.id, user_id=user.id)
    _reset(membership)
    membership.message = message
    if association.join_policy == "open":
        _decide(membership, "active", None)
    else:
        membership.status = "pending"
        membership.decided_by_id = None
        membership.decided_at = None
        membership.updated_at = utcnow()
    session.add(membership)
    session.flush()
    return membership


def _actor_membership(session: Session, membership: Membership, by: User) -> Membership | None:
    query = select(Membership).where(
        Membership.association_id == membership.association_id, Membership.user_id == by.id
    )
    return session.exec(query).first()


def _require_manage_members(
    session: Session, membership: Membership, by: User
) -> Membership | None:
    mine = _actor_membership(session, membership, by)
    require_permission(by, mine, "manage_members")
    return mine


def _check_outranks(by: User, mine: Membership | None, target: Membership) -> None:
    """A manager may only act on people whose powers they hold themselves."""
    if is_owner(by, mine):
        return
    if target.role == "owner":
        raise Forbidden(_("Only an owner may change or remove an owner."))
    assert mine is not None
    held = permission_flags(mine)
    if any(on and not held[name] for name, on in permission_flags(target).items()):
        raise Forbidden(_("This person holds permissions you do not have."))


def accept(session: Session, *, membership: Membership, by: User) -> Membership:
    """Accept a pending request to join."""
    _require_manage_members(session, membership, by)
    if membership.status != "pending":
        raise Conflict(_("This request was already answered."))
    _decide(membership, "active", by)
    session.add(membership)
    session.flush()
    return membership


def refuse(session: Session, *, membership: Membership, by: User) -> Membership:
    """Refuse a pending request to join (the person may ask again later)."""
    _require_manage_members(session, membership, by)
    if membership.status != "pending":
        raise Conflict(_("This request was already answered."))
    _decide(membership, "refused", by)
    session.add(membership)
    session.flush()
    return membership


def active_owner_count(session: Session, association_id: int) -> int:
    """How many active owners an association has."""
    query = select(func.count()).where(
        Membership.association_id == association_id,
        Membership.role == "owner",
        Membership.status == "active",
    )
    return session.exec(query).one()


def _check_not_last_owner(session: Session, membership: Membership, message: str) -> None:
    if membership.role == "owner" and membership.status == "active":
        if active_owner_count(session, membership.association_id) <= 1:
            raise Conflict(message)


def leave(session: Session, *, membership: Membership) -> Membership:
    """Leave the association (or withdraw a request); not for its last owner."""
    if membership.status not in {"active", "pending"}:
        raise Conflict(_("You are not a member of this association."))
    _check_not_last_owner(
        session,
        membership,
        _("You are the last owner: make someone else an owner before you leave."),
    )
    _reset(membership)
    _decide(membership, "left", None)
    session.add(membership)
    session.flush()
    return membership


def remove(session: Session, *, membership: Membership, by: User) -> Membership:
    """Take someone out of the association; their past actions stay."""
    mine = _require_manage_members(session, membership, by)
    _check_outranks(by, mine, membership)
    if membership.status not in {"active", "pending"}:
        raise Conflict(_("This person is not a member any more."))
    _check_not_last_owner(
        session, membership, _("The last owner cannot be removed. Name another owner first.")
    )
    _reset(membership)
    _decide(membership, "left", by)
    session.add(membership)
    session.flush()
    return membership


def _check_role_change(
    session: Session, membership: Membership, role: str, by: User
) -> Membership | None:
    mine = _require_manage_members(session, membership, by)
    if role not in ROLES:
        raise Invalid({"role": _("Choose volunteer, manager or owner.")})
    if (role == "owner" or membership.role == "owner") and not is_owner(by, mine):
        raise Forbidden(_("Only an owner may make or unmake owners."))
    _check_outranks(by, mine, membership)
    if role != "owner":
        _check_not_last_owner(
            session, membership, _("The last owner cannot stop being an owner. Name another first.")
        )
    if membership.status != "active":
        raise Conflict(_("Only active members can be given a role."))
    return mine


def set_role(
    session: Session,
    *,
    membership: Membership,
    role: str,
    permissions: dict[str, bool] | None = None,
    by: User,
) -> Membership:
    """Change a member's role and, for managers, their permissions."""
    mine = _check_role_change(session, membership, role, by)
    unknown = sorted(set(permissions or {}) - set(PERMISSIONS))
    if unknown:
        raise Invalid({"permissions": _("Unknown permission: {name}.").format(name=unknown[0])})
    flags = {name: getattr(membership, f"perm_{name}") for name in PERMISSIONS}
    flags.update({name: bool(on) for name, on in (permissions or {}).items()})
    if role == "manager":
        for name, on in flags.items():
            if on and not has_permission(by, mine, name):
                raise Forbidden(_("You cannot give a permission you do not have yourself."))
    _reset(membership, role=role)
    if role == "manager":
        for name, on in flags.items():
            setattr(membership, f"perm_{name}", on)
    membership.updated_at = utcnow()
    session.add(membership)
    session.flush()
    return membership


def get_member(session: Session, *, association: Association, member_id: int) -> Membership:
    """A membership of this association by id; NotFound for any other."""
    membership = session.get(Membership, member_id)
    if membership is None or membership.association_id != association.id:
        raise NotFound(_("No such member."))
    return membership


def can_list_members(user: User | None, membership: Membership | None) -> bool:
    """Whether the person may see the member list (the same rule for links and pages)."""
    return (
        is_owner(user, membership)
        or has_permission(user, membership, "manage_members")
        or has_permission(user, membership, "view_actions")
    )


def can_manage_members(user: User | None, membership: Membership | None) -> bool:
    """Whether the person may accept, refuse, change and remove members."""
    return has_permission(user, membership, "manage_members")


def _filtered(association: Association, status: str, role: str):  # type: ignore[no-untyped-def]
    query = select(Membership, User).outerjoin(User, col(Membership.user_id) == User.id)
    query = query.where(Membership.association_id == association.id)
    if status:
        if status not in MEMBER_STATUSES:
            raise Invalid({"status": _("Choose pending, active, refused or left.")})
        query = query.where(Membership.status == status)
    if role:
        if role not in ROLES:
            raise Invalid({"role": _("Choose volunteer, manager or owner.")})
        query = query.where(Membership.role == role)
    return query


def list_members(
    session: Session,
    *,
    association: Association,
    status: str = "",
    role: str = "",
    page: int = 1,
    per_page: int = MEMBERS_PAGE_SIZE,
) -> tuple[list[tuple[Membership, User | None]], int]:
    """One page of members, pending requests first, and how many match."""
    query = _filtered(association, status, role)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rank = case(STATUS_ORDER, value=Membership.status, else_=9)
    rows = session.exec(
        query.order_by(rank, Membership.id).offset((max(page, 1) - 1) * per_page).limit(per_page)
    )
    return [(m, u) for m, u in rows], total


def list_members_after(
    session: Session,
    *,
    association: Association,
    status: str = "",
    after: int | None = None,
    limit: int = 50,
) -> list[tuple[Membership, User | None]]:
    """Members by id after a position (for the API's cursors)."""
    query = _filtered(association, status, "")
    if after is not None:
        query = query.where(col(Membership.id) > after)
    rows = session.exec(query.order_by(Membership.id).limit(limit))
    return [(m, u) for m, u in rows]


def pending_count(session: Session, association: Association) -> int:
    """How many requests to join wait for an answer."""
    query = select(func.count()).where(
        Membership.association_id == association.id, Membership.status == "pending"
    )
    return session.exec(query).one()


def memberships_of_user(session: Session, user: User) -> list[tuple[Membership, Association]]:
    """The person's active and pending memberships with their associations, by name."""
    query = (
        select(Membership, Association)
        .join(Association, col(Membership.association_id) == Association.id)
        .where(Membership.user_id == user.id, col(Membership.status).in_(("active", "pending")))
        .order_by(func.lower(Association.name))
    )
    return [(m, a) for m, a in session.exec(query)]


def joined_at(membership: Membership) -> datetime | None:
    """When the current membership started (None unless active)."""
    if membership.status != "active":
        return None
    return membership.decided_at or membership.created_at


def member_name(membership: Membership, user: User | None) -> str:
    """How a member is named: their display name, an access-link label, or "Deleted account"."""
    if user is not None:
        return user.display_name or user.username
    if membership.label:
        return membership.label
    return _("Deleted account")
