"""A person's own data: the export of everything about them, and deleting their account.

Deleting an account keeps its memberships (anonymous, "left") so that the
actions recorded before still count in each association's totals; the user
name stays taken for good (its Handle row is kept).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, func, select

from instance import accounts
from instance.account_tokens import list_api_tokens
from instance.errors import Conflict
from instance.i18n import _
from instance.ratelimit import RateLimiter
from schema.tables import Association, Membership, User
from schema.tables._base import utcnow

EXPORT_FORMAT = "benefed-account"
EXPORT_VERSION = 1
#: Run in the deleting transaction before anything goes (federation queues its Deletes there).
BEFORE_DELETE: list[Callable[[Session, User], None]] = []


def _when(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def profile_data(user: User) -> dict[str, Any]:
    """The profile part of the export."""
    return {
        "username": user.username,
        "email": user.email,
        "display_name": user.display_name,
        "language": user.language,
        "is_admin": user.is_admin,
        "email_confirmed": user.email_confirmed,
        "federation": user.federation_enabled,
        "reminders": user.reminders,
        "reminded_at": _when(user.reminded_at),
        "created_at": _when(user.created_at),
        "last_login_at": _when(user.last_login_at),
    }


def _memberships(session: Session, user: User) -> list[tuple[Membership, Association]]:
    query = (
        select(Membership, Association)
        .join(Association, col(Membership.association_id) == Association.id)
        .where(Membership.user_id == user.id)
        .order_by(func.lower(Association.name), col(Membership.id))
    )
    return [(membership, association) for membership, association in session.exec(query)]


def membership_data(membership: Membership, association: Association) -> dict[str, Any]:
    """One membership in the export."""
    return {
        "association": {"slug": association.slug, "name": association.name},
        "role": membership.role,
        "status": membership.status,
        "permissions": {
            "view_actions": membership.perm_view_actions,
            "edit_actions": membership.perm_edit_actions,
            "manage_members": membership.perm_manage_members,
            "manage_settings": membership.perm_manage_settings,
        },
        "message": membership.message,
        "created_at": _when(membership.created_at),
        "updated_at": _when(membership.updated_at),
        "decided_at": _when(membership.decided_at),
    }


def export_user_data(session: Session, user: User) -> dict[str, Any]:
    """Everything the instance keeps about the person, as JSON-ready data.

    Other areas add their own keys to this dictionary (for instance the actions
    the person recorded) by extending this function.
    """
    tokens = [
        {
            "label": token.label,
            "created_at": _when(token.created_at),
            "last_used_at": _when(token.last_used_at),
        }
        for token in list_api_tokens(session, user=user)
    ]
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": _when(utcnow()),
        "profile": profile_data(user),
        "memberships": [membership_data(m, a) for m, a in _memberships(session, user)],
        "api_tokens": tokens,
    }


@dataclass(frozen=True)
class DeletionPlan:
    """What deleting an account would do: where it is blocked, what gets archived."""

    blocked_by: list[Association]
    to_archive: list[Association]
    last_admin: bool

    @property
    def allowed(self) -> bool:
        """True when nothing stops the deletion."""
        return not self.blocked_by and not self.last_admin


def _active_counts(
    session: Session, association_ids: list[int], role: str | None
) -> dict[int, int]:
    if not association_ids:
        return {}
    query = select(Membership.association_id, func.count()).where(
        col(Membership.association_id).in_(association_ids), Membership.status == "active"
    )
    if role is not None:
        query = query.where(Membership.role == role)
    rows = session.exec(query.group_by(col(Membership.association_id)))
    return {association_id: count for association_id, count in rows}


def deletion_plan(session: Session, user: User) -> DeletionPlan:
    """Check what deleting the person's account would do."""
    active = [(m, a) for m, a in _memberships(session, user) if m.status == "active"]
    ids = [a.id for _m, a in active if a.id is not None]
    members = _active_counts(session, ids, None)
    owners = _active_counts(session, ids, "owner")
    blocked_by, to_archive = [], []
    for membership, association in active:
        assert association.id is not None
        others = members.get(association.id, 0) - 1
        if others <= 0:
            to_archive.append(association)
        elif membership.role == "owner" and owners.get(association.id, 0) <= 1:
            blocked_by.append(association)
    last_admin = user.is_admin and accounts.other_active_admins(session, user) == 0
    return DeletionPlan(blocked_by=blocked_by, to_archive=to_archive, last_admin=last_admin)


def _refusal(plan: DeletionPlan) -> str:
    if plan.last_admin:
        return _("You are the only administrator of this site. Make someone else an admin first.")
    names = ", ".join(association.name for association in plan.blocked_by)
    return _(
        "You are the only owner of {names}. Make another member an owner before you delete "
        "your account."
    ).format(names=names)


def delete_account(
    session: Session, *, user: User, password: str, limiter: RateLimiter | None = None
) -> list[Association]:
    """Delete the account after checking its password; returns the associations archived.

    Its memberships stay, anonymous and "left"; associations where the person was
    the only active member are archived.
    """
    accounts.check_current_password(user, password, limiter=limiter)
    plan = deletion_plan(session, user)
    if not plan.allowed:
        raise Conflict(_refusal(plan))
    for hook in BEFORE_DELETE:
        hook(session, user)
    now = utcnow()
    for association in plan.to_archive:
        association.is_archived = True
        association.updated_at = now
        session.add(association)
    for membership, _association in _memberships(session, user):
        membership.user_id = None
        membership.status = "left"
        membership.label = ""
        membership.updated_at = now
        session.add(membership)
    session.flush()
    row = session.get(User, user.id)
    if row is not None:
        session.delete(row)
    session.flush()
    return plan.to_archive
