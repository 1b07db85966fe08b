"""Instance administration: statistics, suspensions, admins and instance invitations."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, func, or_, select

from instance import accounts
from instance.errors import Invalid, NotFound
from instance.i18n import _
from instance.secrets import new_token, token_hash
from schema.tables import Association, Invitation, Membership, User
from schema.tables._base import utcnow

PAGE_SIZE = 50
ACTIVE_DAYS = 30
INVITATION_DAYS = 14
SEARCH_MAX = 100
T = TypeVar("T")


@dataclass(frozen=True)
class Statistics:
    """Counts shown on the administration home page."""

    users: int
    confirmed_users: int
    active_users: int
    admins: int
    suspended_users: int
    associations: int
    public_associations: int
    hidden_associations: int
    archived_associations: int
    suspended_associations: int
    networks: int
    active_memberships: int
    pending_memberships: int


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing, with what the pagination links need."""

    items: list[T]
    total: int
    page: int
    pages: int


def _count(session: Session, table: type, *conditions: ColumnElement[bool] | bool) -> int:
    query = select(func.count()).select_from(table)
    for condition in conditions:
        query = query.where(condition)
    return int(session.exec(query).one())


def statistics(session: Session, *, now: datetime | None = None) -> Statistics:
    """Count accounts, associations and memberships of the instance."""
    since = (now or utcnow()) - timedelta(days=ACTIVE_DAYS)
    return Statistics(
        users=_count(session, User),
        confirmed_users=_count(session, User, col(User.email_confirmed).is_(True)),
        active_users=_count(session, User, col(User.last_login_at) >= since),
        admins=_count(session, User, col(User.is_admin).is_(True)),
        suspended_users=_count(session, User, col(User.is_suspended).is_(True)),
        associations=_count(session, Association),
        public_associations=_count(session, Association, col(Association.is_hidden).is_(False)),
        hidden_associations=_count(session, Association, col(Association.is_hidden).is_(True)),
        archived_associations=_count(session, Association, col(Association.is_archived).is_(True)),
        suspended_associations=_count(
            session, Association, col(Association.is_suspended).is_(True)
        ),
        networks=_count(session, Association, col(Association.is_network).is_(True)),
        active_memberships=_count(session, Membership, col(Membership.status) == "active"),
        pending_memberships=_count(session, Membership, col(Membership.status) == "pending"),
    )


def _matches(search: str, *columns: object) -> ColumnElement[bool]:
    """A case-insensitive "contains" over several columns (LIKE wildcards escaped)."""
    needle = search.strip().lower()[:SEARCH_MAX]
    return or_(*(func.lower(column).contains(needle, autoescape=True) for column in columns))


def _page_number(page: int, total: int) -> tuple[int, int]:
    pages = max(1, -(-total // PAGE_SIZE))
    return min(max(1, page), pages), pages


def search_users(session: Session, *, search: str = "", page: int = 1) -> Page[User]:
    """Accounts whose user name, email or display name contains the search, by name."""
    conditions = []
    if search.strip():
        conditions.append(_matches(search, User.username, User.email, User.display_name))
    total = _count(session, User, *conditions)
    page, pages = _page_number(page, total)
    query = select(User).where(*conditions).order_by(col(User.username))
    query = query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    return Page(list(session.exec(query)), total, page, pages)


def search_associations(session: Session, *, search: str = "", page: int = 1) -> Page[Association]:
    """Every association (hidden, archived and suspended too) matching the search, by name."""
    conditions = []
    if search.strip():
        conditions.append(_matches(search, Association.name, Association.slug))
    total = _count(session, Association, *conditions)
    page, pages = _page_number(page, total)
    query = select(Association).where(*conditions).order_by(func.lower(Association.name))
    query = query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    return Page(list(session.exec(query)), total, page, pages)


def get_user(session: Session, user_id: int) -> User:
    """The account with this id; raise NotFound."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(_("No such account."))
    return user


def get_association(session: Session, association_id: int) -> Association:
    """The association with this id; raise NotFound."""
    association = session.get(Association, association_id)
    if association is None:
        raise NotFound(_("No such association."))
    return association


def set_user_suspended(session: Session, *, admin: User, user_id: int, suspended: bool) -> User:
    """Suspend or restore an account; a suspended person is signed out everywhere at once."""
    user = get_user(session, user_id)
    if suspended and user.id == admin.id:
        raise Invalid({"__all__": _("You cannot suspend your own account.")})
    user.is_suspended = suspended
    session.add(user)
    session.flush()
    return user


def _other_active_admins(session: Session, user: User) -> int:
    return _count(
        session,
        User,
        col(User.is_admin).is_(True),
        col(User.is_suspended).is_(False),
        col(User.id) != user.id,
    )


def set_user_admin(session: Session, *, user_id: int, admin: bool) -> User:
    """Make an account an instance admin, or take the role back (never from the last one)."""
    user = get_user(session, user_id)
    if not admin and user.is_admin and _other_active_admins(session, user) == 0:
        raise Invalid({"__all__": _("The instance needs at least one admin.")})
    user.is_admin = admin
    session.add(user)
    session.flush()
    return user


def set_association_suspended(
    session: Session, *, association_id: int, suspended: bool
) -> Association:
    """Suspend an association (gone from the directory) or restore it."""
    association = get_association(session, association_id)
    association.is_suspended = suspended
    association.updated_at = utcnow()
    session.add(association)
    session.flush()
    return association


def pending_invitations(session: Session, *, now: datetime | None = None) -> list[Invitation]:
    """Invitations to the instance not used yet and not expired, newest first."""
    query = (
        select(Invitation)
        .where(
            col(Invitation.association_id).is_(None),
            col(Invitation.used_at).is_(None),
            col(Invitation.expires_at) > (now or utcnow()),
        )
        .order_by(col(Invitation.created_at).desc(), col(Invitation.id).desc())
    )
    return list(session.exec(query))


def _unused_invitations(session: Session, email: str) -> list[Invitation]:
    query = select(Invitation).where(
        col(Invitation.association_id).is_(None),
        col(Invitation.used_at).is_(None),
        col(Invitation.email) == email,
    )
    return list(session.exec(query))


def invite_to_instance(session: Session, *, admin: User, email: str) -> tuple[Invitation, str]:
    """Invite someone to sign up (an older invitation is replaced); return it and its token."""
    email = accounts.check_email(email)
    if accounts.find_by_email(session, email) is not None:
        raise Invalid({"email": _("An account already uses this email address.")})
    for old in _unused_invitations(session, email):
        session.delete(old)
    token = new_token()
    now = utcnow()
    invitation = Invitation(
        email=email,
        token_hash=token_hash(token),
        association_id=None,
        invited_by_id=admin.id,
        created_at=now,
        expires_at=now + timedelta(days=INVITATION_DAYS),
    )
    session.add(invitation)
    session.flush()
    return invitation, token


def cancel_invitation(session: Session, *, invitation_id: int) -> None:
    """Delete an instance invitation that was not used yet."""
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.association_id is not None or invitation.used_at:
        raise NotFound(_("No such invitation."))
    session.delete(invitation)
    session.flush()
