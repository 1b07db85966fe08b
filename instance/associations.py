"""Associations: creation, lookup, visibility and settings."""

from sqlmodel import Session, func, select

from instance.errors import Conflict, Invalid, NotFound
from instance.i18n import _
from instance.names import claim_name, free_slug
from schema.tables import Association, Membership, User
from schema.tables._base import utcnow
from schema.tables.associations import JOIN_POLICIES

NAME_MAX = 127
DESCRIPTION_MAX = 5000


def check_name(name: str, *, field: str = "name") -> str:
    """Return the trimmed association name or raise Invalid."""
    name = name.strip()
    if not name:
        raise Invalid({field: _("Enter a name.")})
    if len(name) > NAME_MAX:
        raise Invalid({field: _("Use at most 127 characters.")})
    return name


def check_join_policy(policy: str, *, field: str = "join_policy") -> str:
    """Return the policy if known, else raise Invalid."""
    if policy not in JOIN_POLICIES:
        raise Invalid({field: _("Choose open, moderated or invitation.")})
    return policy


def create_association(
    session: Session,
    *,
    owner: User,
    name: str,
    slug: str | None = None,
    description: str = "",
    join_policy: str = "open",
    is_hidden: bool = False,
    is_network: bool = False,
) -> Association:
    """Create an association; its creator becomes its owner."""
    errors: dict[str, str] = {}
    try:
        name = check_name(name)
    except Invalid as error:
        errors.update(error.errors)
    try:
        check_join_policy(join_policy)
    except Invalid as error:
        errors.update(error.errors)
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = _("Use at most 5000 characters.")
    if errors:
        raise Invalid(errors)
    if find_by_name(session, name) is not None:
        raise Invalid({"name": _("An association with this name already exists.")})
    chosen = slug.strip().lower() if slug else free_slug(session, name)
    try:
        claim_name(session, name=chosen, kind="association", field="slug")
    except Conflict:
        raise Invalid({"slug": _("This name is already taken.")}) from None
    association = Association(
        slug=chosen,
        name=name,
        description=description.strip(),
        join_policy=join_policy,
        is_hidden=is_hidden,
        is_network=is_network,
    )
    session.add(association)
    session.flush()
    assert association.id is not None and owner.id is not None
    session.add(
        Membership(association_id=association.id, user_id=owner.id, role="owner", status="active")
    )
    session.flush()
    return association


def find_by_name(session: Session, name: str) -> Association | None:
    """The association with this name, compared without case."""
    query = select(Association).where(func.lower(Association.name) == name.strip().lower())
    return session.exec(query).first()


def get_by_slug(session: Session, slug: str) -> Association:
    """The association with this slug; raise NotFound."""
    association = session.exec(select(Association).where(Association.slug == slug)).first()
    if association is None:
        raise NotFound(_("No such association."))
    return association


def membership_of(
    session: Session, association: Association, user: User | None
) -> Membership | None:
    """The person's membership in the association, whatever its status."""
    if user is None:
        return None
    query = select(Membership).where(
        Membership.association_id == association.id, Membership.user_id == user.id
    )
    return session.exec(query).first()


def can_see(association: Association, user: User | None, membership: Membership | None) -> bool:
    """Whether the person may know the association exists (else it is a 404 to them)."""
    if user is not None and user.is_admin:
        return True
    if membership is not None and membership.status in {"active", "pending"}:
        return True
    return not association.is_hidden and not association.is_suspended


def touch(association: Association) -> None:
    """Record that the association's settings changed."""
    association.updated_at = utcnow()
