"""Emails about memberships: requests to join, answers, invitations.

Each function builds the mails (in each recipient's language); the caller sends
them once its transaction is committed.
"""

from sqlmodel import Session, col, or_, select

from instance.accounts import find_by_email
from instance.i18n import _, use_language
from instance.mail import Mail
from schema.tables import Association, Invitation, Membership, User


def association_url(base_url: str, association: Association) -> str:
    """The full address of an association's page."""
    return f"{base_url.rstrip('/')}/associations/{association.slug}"


def member_managers(session: Session, association: Association) -> list[User]:
    """Active members who may answer requests to join (owners included)."""
    query = (
        select(User)
        .join(Membership, col(Membership.user_id) == User.id)
        .where(
            Membership.association_id == association.id,
            Membership.status == "active",
            or_(
                Membership.role == "owner",
                (Membership.role == "manager") & col(Membership.perm_manage_members),
            ),
            col(User.is_suspended).is_(False),
        )
        .order_by(User.id)
    )
    return list(session.exec(query))


def join_request_mails(
    session: Session,
    *,
    association: Association,
    membership: Membership,
    requester: User,
    base_url: str,
) -> list[Mail]:
    """One mail per member manager about a new request to join."""
    link = f"{association_url(base_url, association)}/members?status=pending"
    who = requester.display_name or requester.username
    mails = []
    for manager in member_managers(session, association):
        with use_language(manager.language):
            lines = [
                _("Hello,"),
                "",
                _("{who} asks to join {association}.").format(
                    who=who, association=association.name
                ),
            ]
            if membership.message:
                lines += ["", _("Their message:"), membership.message]
            lines += ["", _("To accept or refuse, open this page:"), link]
            subject = _("New request to join {association}").format(association=association.name)
            mails.append(Mail(to=manager.email, subject=subject, body="\n".join(lines)))
    return mails


def decision_mail(*, association: Association, user: User, accepted: bool, base_url: str) -> Mail:
    """The mail telling a person whether their request to join was accepted."""
    link = association_url(base_url, association)
    with use_language(user.language):
        if accepted:
            subject = _("Welcome to {association}").format(association=association.name)
            text = _("Your request to join {association} was accepted. You are now a member.")
        else:
            subject = _("Your request to join {association}").format(association=association.name)
            text = _("Your request to join {association} was not accepted.")
        body = "\n".join([_("Hello,"), "", text.format(association=association.name), "", link])
    return Mail(to=user.email, subject=subject, body=body)


def invitation_mail(
    session: Session,
    *,
    association: Association,
    invitation: Invitation,
    token: str,
    inviter: User,
    base_url: str,
    default_language: str,
) -> Mail:
    """The mail carrying an invitation link (in the invited person's language if known)."""
    link = f"{base_url.rstrip('/')}/invitations/{token}"
    known = find_by_email(session, invitation.email)
    language = known.language if known is not None else default_language
    who = inviter.display_name or inviter.username
    with use_language(language):
        subject = _("Invitation to join {association}").format(association=association.name)
        body = "\n".join(
            [
                _("Hello,"),
                "",
                _("{who} invites you to join {association}.").format(
                    who=who, association=association.name
                ),
                "",
                _("To accept, open this link within 14 days:"),
                link,
                "",
                _("If you do not know this association, you can ignore this email."),
            ]
        )
    return Mail(to=invitation.email, subject=subject, body=body)
