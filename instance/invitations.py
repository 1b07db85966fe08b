"""Invitations by email to join one association (only the token's hash is kept)."""

from datetime import timedelta

from sqlmodel import Session, col, select

from instance.accounts import check_email
from instance.associations import is_owner, membership_of, require_permission
from instance.errors import Conflict, Forbidden, Invalid, NotFound
from instance.i18n import _
from instance.memberships import check_open_for_joining
from instance.permissions import PERMISSIONS
from instance.secrets import new_token, token_hash
from schema.tables import Association, Invitation, Membership, User
from schema.tables._base import utcnow
from schema.tables.associations import ROLES

LIFETIME = timedelta(days=14)


def create_invitation(
    session: Session,
    *,
    association: Association,
    by: User,
    email: str,
    role: str = "volunteer",
) -> tuple[Invitation, str]:
    """Invite an address to join; returns the invitation and the secret token to mail."""
    mine = membership_of(session, association, by)
    require_permission(by, mine, "manage_members")
    check_open_for_joining(association)
    email = check_email(email)
    if role not in ROLES:
        raise Invalid({"role": _("Choose volunteer, manager or owner.")})
    if role == "owner" and not is_owner(by, mine):
        raise Forbidden(_("Only an owner may invite a new owner."))
    if _active_member_with_email(session, association, email):
        raise Conflict(_("This person is already a member of the association."))
    for old in pending_for_email(session, association=association, email=email):
        session.delete(old)
    token = new_token()
    now = utcnow()
    invitation = Invitation(
        email=email,
        token_hash=token_hash(token),
        association_id=association.id,
        role=role,
        invited_by_id=by.id,
        created_at=now,
        expires_at=now + LIFETIME,
    )
    session.add(invitation)
    session.flush()
    return invitation, token


def _active_member_with_email(session: Session, association: Association, email: str) -> bool:
    query = (
        select(Membership.id)
        .join(User, col(Membership.user_id) == User.id)
        .where(
            Membership.association_id == association.id,
            Membership.status == "active",
            User.email == email,
        )
    )
    return session.exec(query).first() is not None


def pending_for_email(
    session: Session, *, association: Association, email: str
) -> list[Invitation]:
    """Unused invitations of the association to one address."""
    query = select(Invitation).where(
        Invitation.association_id == association.id,
        Invitation.email == email,
        col(Invitation.used_at).is_(None),
    )
    return list(session.exec(query))


def list_pending(session: Session, *, association: Association) -> list[Invitation]:
    """Unused, unexpired invitations of the association, newest first."""
    query = (
        select(Invitation)
        .where(
            Invitation.association_id == association.id,
            col(Invitation.used_at).is_(None),
            Invitation.expires_at > utcnow(),
        )
        .order_by(col(Invitation.created_at).desc(), col(Invitation.id).desc())
    )
    return list(session.exec(query))


def find_by_token(session: Session, token: str) -> Invitation:
    """The usable association invitation for a token; NotFound when unknown, used or expired."""
    invitation = session.exec(
        select(Invitation).where(Invitation.token_hash == token_hash(token))
    ).first()
    if invitation is None or invitation.association_id is None or invitation.used_at is not None:
        raise NotFound(_("This invitation does not exist or was already used."))
    if invitation.expires_at <= utcnow():
        raise NotFound(_("This invitation has expired. Ask for a new one."))
    return invitation


def accept_invitation(session: Session, *, token: str, user: User) -> Membership:
    """Join the association of an invitation with the role it gives."""
    invitation = find_by_token(session, token)
    association = session.get(Association, invitation.association_id)
    if association is None:
        raise NotFound(_("No such association."))
    check_open_for_joining(association)
    membership = membership_of(session, association, user)
    if membership is not None and membership.status == "active":
        raise Conflict(_("You are already a member of this association."))
    if membership is None:
        assert association.id is not None
        membership = Membership(association_id=association.id, user_id=user.id)
    now = utcnow()
    membership.role = invitation.role if invitation.role in ROLES else "volunteer"
    for name in PERMISSIONS:
        setattr(membership, f"perm_{name}", False)
    membership.status = "active"
    membership.message = ""
    membership.decided_by_id = invitation.invited_by_id
    membership.decided_at = now
    membership.updated_at = now
    invitation.used_at = now
    session.add(membership)
    session.add(invitation)
    session.flush()
    return membership


def get_invitation(session: Session, *, association: Association, invitation_id: int) -> Invitation:
    """An invitation of this association by id; NotFound for any other."""
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.association_id != association.id:
        raise NotFound(_("No such invitation."))
    return invitation


def cancel_invitation(session: Session, *, invitation: Invitation, by: User) -> None:
    """Withdraw an invitation that was not used yet."""
    association = session.get(Association, invitation.association_id)
    assert association is not None
    require_permission(by, membership_of(session, association, by), "manage_members")
    if invitation.used_at is not None:
        raise Conflict(_("This invitation was already used."))
    session.delete(invitation)
    session.flush()
