"""Access links: named links that let people without an account record their actions.

An access link is a membership with no user: its label is the person's name and
only the hash of its token is stored. Whoever opens the link records, lists and
corrects their own actions in that one association, until the link expires or a
manager revokes it.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from sqlmodel import Session, col, func, select

from instance.associations import membership_of
from instance.errors import Forbidden, Invalid, NotFound
from instance.i18n import _
from instance.permissions import has_permission
from instance.secrets import new_token, token_hash
from schema.tables import Action, Association, Membership, User
from schema.tables._base import utcnow

LABEL_MAX = 100
#: The longest a link may stay valid.
MAX_VALIDITY = timedelta(days=3 * 366)
STATES = ("active", "expired", "revoked")


@dataclass(frozen=True)
class AccessLink:
    """A link as managers see it: its membership, state and number of actions."""

    membership: Membership
    state: str
    actions: int


def _require_manager(session: Session, association: Association, by: User) -> None:
    membership = membership_of(session, association, by)
    if not has_permission(by, membership, "manage_members"):
        raise Forbidden(_("Only managers who may manage members can do this."))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=utcnow().tzinfo)


def state_of(membership: Membership, now: datetime) -> str:
    """'active', 'expired' or 'revoked' (a link whose membership is no longer active)."""
    if membership.status != "active" or membership.access_token_hash is None:
        return "revoked"
    expires = membership.access_expires_at
    if expires is not None and _aware(expires) <= now:
        return "expired"
    return "active"


def end_of_day(day: date, zone: tzinfo) -> datetime:
    """The first instant after a day, in the instance time zone, as UTC."""
    following = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return following.astimezone(utcnow().tzinfo)


def last_day(membership: Membership, zone: tzinfo) -> date | None:
    """The last day a link works, in the instance time zone (None: no end)."""
    if membership.access_expires_at is None:
        return None
    moment = _aware(membership.access_expires_at).astimezone(zone)
    return (moment - timedelta(microseconds=1)).date()


def check_label(label: object) -> str:
    """A trimmed name for the link, 1 to 100 characters; raise Invalid."""
    if not isinstance(label, str) or not label.strip():
        raise Invalid({"label": _("Enter the name of the person.")})
    if len(label.strip()) > LABEL_MAX:
        raise Invalid({"label": _("Use at most 100 characters.")})
    return label.strip()


def check_expiry(expires_on: date | None, *, today: date) -> None:
    """Raise Invalid unless the last valid day is today or later, and not too far."""
    if expires_on is None:
        return
    if expires_on < today:
        raise Invalid({"expires_on": _("The last day must not be in the past.")})
    if expires_on > today + MAX_VALIDITY:
        raise Invalid({"expires_on": _("Choose a day within three years.")})


def create_link(
    session: Session,
    *,
    association: Association,
    by: User,
    label: object,
    expires_on: date | None,
    today: date,
    zone: tzinfo,
) -> tuple[Membership, str]:
    """A new access link (manage_members); returns its membership and the token, shown once."""
    _require_manager(session, association, by)
    if association.is_archived or association.is_suspended:
        raise Forbidden(_("This association does not record actions any more."))
    errors: dict[str, str] = {}
    name = ""
    try:
        name = check_label(label)
    except Invalid as error:
        errors.update(error.errors)
    try:
        check_expiry(expires_on, today=today)
    except Invalid as error:
        errors.update(error.errors)
    if errors:
        raise Invalid(errors)
    assert association.id is not None
    token = new_token()
    membership = Membership(
        association_id=association.id,
        user_id=None,
        role="volunteer",
        status="active",
        label=name,
        access_token_hash=token_hash(token),
        access_expires_at=end_of_day(expires_on, zone) if expires_on else None,
        decided_by_id=by.id,
        decided_at=utcnow(),
    )
    session.add(membership)
    session.flush()
    return membership, token


def list_links(
    session: Session, *, association: Association, by: User, now: datetime | None = None
) -> list[AccessLink]:
    """Every access link of the association, newest first, with its state (manage_members)."""
    _require_manager(session, association, by)
    now = now or utcnow()
    query = (
        select(Membership)
        .where(
            Membership.association_id == association.id,
            col(Membership.user_id).is_(None),
            col(Membership.access_token_hash).is_not(None),
        )
        .order_by(col(Membership.id).desc())
    )
    links = list(session.exec(query).all())
    counts: dict[int, int] = {}
    if links:
        ids = [link.id for link in links if link.id is not None]
        counted = select(Action.membership_id, func.count()).where(
            col(Action.membership_id).in_(ids)
        )
        counts = {
            member_id: int(n)
            for member_id, n in session.exec(counted.group_by(Action.membership_id))
        }
    return [AccessLink(link, state_of(link, now), counts.get(link.id or 0, 0)) for link in links]


def get_link(
    session: Session, *, association: Association, by: User, link_id: object
) -> Membership:
    """One access link of the association (manage_members); raise NotFound."""
    _require_manager(session, association, by)
    if isinstance(link_id, bool) or not isinstance(link_id, int):
        raise NotFound(_("No such access link."))
    link = session.get(Membership, link_id)
    if (
        link is None
        or link.association_id != association.id
        or link.user_id is not None
        or link.access_token_hash is None
    ):
        raise NotFound(_("No such access link."))
    return link


def revoke_link(session: Session, *, link: Membership) -> Membership:
    """Close a link for good (its actions stay): the membership is marked as left."""
    link.status = "left"
    link.updated_at = utcnow()
    session.add(link)
    session.flush()
    return link


def find_by_token(session: Session, token: object) -> Membership | None:
    """The access link with this token, whatever its state, or None."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    query = select(Membership).where(Membership.access_token_hash == token_hash(token))
    found = session.exec(query).first()
    if found is None or found.user_id is not None:
        return None
    return found


def active_link(
    session: Session, *, membership_id: object, now: datetime | None = None
) -> Membership | None:
    """The access link a browser opened, if it is still active; else None."""
    if isinstance(membership_id, bool) or not isinstance(membership_id, int):
        return None
    found = session.get(Membership, membership_id)
    if found is None or found.user_id is not None:
        return None
    if state_of(found, now or utcnow()) != "active":
        return None
    return found
