"""Associations: creation, lookup, visibility, the directory and settings."""

import unicodedata
from collections.abc import Callable
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, and_, false, or_, true
from sqlmodel import Session, col, func, select

from instance import network_setup, summary_changes, taxonomy
from instance.errors import Conflict, Forbidden, Invalid, NotFound
from instance.i18n import _
from instance.names import claim_name, free_slug
from instance.permissions import has_permission
from schema.tables import Association, Membership, User
from schema.tables._base import utcnow
from schema.tables.associations import JOIN_POLICIES

NAME_MAX = 127
DESCRIPTION_MAX = 5000
WEBSITE_MAX = 255
DIRECTORY_PAGE_SIZE = 20
SEEN_STATUSES = ("active", "pending")
# Words used in addresses under /associations/ that no slug may take.
ROUTE_WORDS = frozenset({"new"})
#: Run in the deleting transaction before anything goes (federation queues its Deletes there).
BEFORE_DELETE: list[Callable[[Session, Association], None]] = []


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


def check_description(description: str, *, field: str = "description") -> str:
    """Return the trimmed description or raise Invalid when too long."""
    description = description.strip()
    if len(description) > DESCRIPTION_MAX:
        raise Invalid({field: _("Use at most 5000 characters.")})
    return description


def check_website(website: str, *, field: str = "website") -> str:
    """Return the trimmed web address (empty allowed); it must be http(s)."""
    website = website.strip()
    if not website:
        return ""
    parts = urlsplit(website)
    if (
        parts.scheme.lower() not in {"http", "https"}
        or not parts.hostname
        or len(website) > WEBSITE_MAX
        or any(c.isspace() for c in website)
    ):
        raise Invalid({field: _("Enter a web address starting with https:// or http://.")})
    return website


def _collect(errors: dict[str, str], check: Callable[[str], str], value: str) -> str:
    try:
        return check(value)
    except Invalid as error:
        errors.update(error.errors)
        return value


def create_association(
    session: Session,
    *,
    owner: User,
    name: str,
    slug: str | None = None,
    description: str = "",
    website: str = "",
    join_policy: str = "open",
    is_hidden: bool = False,
    is_network: bool = False,
) -> Association:
    """Create an association; its creator becomes its owner."""
    errors: dict[str, str] = {}
    name = _collect(errors, check_name, name)
    _collect(errors, check_join_policy, join_policy)
    description = _collect(errors, check_description, description)
    website = _collect(errors, check_website, website)
    if errors:
        raise Invalid(errors)
    if find_by_name(session, name) is not None:
        raise Invalid({"name": _("An association with this name already exists.")})
    chosen = slug.strip().lower() if slug else free_slug(session, name)
    if chosen in ROUTE_WORDS:
        if slug:
            raise Invalid({"slug": _("This name is reserved.")})
        chosen = free_slug(session, f"{chosen}-asso")
    try:
        claim_name(session, name=chosen, kind="association", field="slug")
    except Conflict:
        raise Invalid({"slug": _("This name is already taken.")}) from None
    association = Association(
        slug=chosen,
        name=name,
        description=description,
        website=website,
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
    taxonomy.copy_instance_defaults(session, association=association)
    if is_network:
        network_setup.set_up_network(session, association=association)
    return association


def find_by_name(
    session: Session, name: str, *, exclude_id: int | None = None
) -> Association | None:
    """The association with this name, compared without case (accents count)."""
    wanted = name.strip().casefold()
    query = select(Association).where(func.length(Association.name) == len(name.strip()))
    if exclude_id is not None:
        query = query.where(Association.id != exclude_id)
    return next((a for a in session.exec(query) if a.name.casefold() == wanted), None)


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


def get_visible(
    session: Session, slug: str, user: User | None
) -> tuple[Association, Membership | None]:
    """The association and the person's membership; NotFound when hidden from them."""
    association = get_by_slug(session, slug)
    membership = membership_of(session, association, user)
    if not can_see(association, user, membership):
        raise NotFound(_("No such association."))
    return association, membership


def is_owner(user: User | None, membership: Membership | None) -> bool:
    """True for an active owner of the association, or an instance admin."""
    if user is not None and user.is_admin:
        return True
    return membership is not None and membership.status == "active" and membership.role == "owner"


def require_permission(user: User | None, membership: Membership | None, permission: str) -> None:
    """Raise Forbidden unless the person holds the permission."""
    if not has_permission(user, membership, permission):
        raise Forbidden(_("You are not allowed to do this in this association."))


def require_owner(user: User | None, membership: Membership | None) -> None:
    """Raise Forbidden unless the person owns the association."""
    if not is_owner(user, membership):
        raise Forbidden(_("Only an owner of the association may do this."))


def touch(association: Association) -> None:
    """Record that the association's settings changed."""
    association.updated_at = utcnow()


def visible_condition(user: User | None) -> ColumnElement[bool]:
    """SQL condition: associations listed for this person in the directory."""
    if user is not None and user.is_admin:
        return true()
    public = and_(
        col(Association.is_hidden).is_(false()),
        col(Association.is_suspended).is_(false()),
        col(Association.is_archived).is_(false()),
    )
    if user is None:
        return public
    mine = select(Membership.association_id).where(
        Membership.user_id == user.id, col(Membership.status).in_(SEEN_STATUSES)
    )
    return or_(public, col(Association.id).in_(mine))


def name_key(text: str) -> str:
    """A name folded for sorting and searching: no accents, no case ("École" ~ "ecole")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _directory_keys(session: Session, user: User | None, q: str) -> list[tuple[str, int]]:
    # Folding and sorting happen here rather than in SQL: SQLite's lower() only
    # knows ASCII, and French names are full of accents.
    rows = session.exec(select(Association.id, Association.name).where(visible_condition(user)))
    needle = name_key(q.strip())
    keys = ((name_key(name), row_id) for row_id, name in rows if row_id is not None)
    return sorted(key for key in keys if needle in key[0])


def _rows(session: Session, keys: list[tuple[str, int]]) -> list[Association]:
    ids = [row_id for _key, row_id in keys]
    if not ids:
        return []
    found = {a.id: a for a in session.exec(select(Association).where(col(Association.id).in_(ids)))}
    return [found[row_id] for row_id in ids if row_id in found]


def list_directory(
    session: Session,
    *,
    user: User | None,
    q: str = "",
    page: int = 1,
    per_page: int = DIRECTORY_PAGE_SIZE,
) -> tuple[list[Association], int]:
    """One page of the directory, alphabetical, and the number of matches."""
    keys = _directory_keys(session, user, q)
    start = (max(page, 1) - 1) * per_page
    return _rows(session, keys[start : start + per_page]), len(keys)


def list_after(
    session: Session,
    *,
    user: User | None,
    q: str = "",
    after: tuple[str, int] | None = None,
    limit: int = 50,
) -> list[tuple[str, Association]]:
    """Directory rows after a (name key, id) position, with their keys (for cursors)."""
    keys = _directory_keys(session, user, q)
    if after is not None:
        keys = [key for key in keys if key > after]
    chosen = keys[:limit]
    return list(zip((key for key, _id in chosen), _rows(session, chosen), strict=True))


def members_counts(session: Session, association_ids: list[int]) -> dict[int, int]:
    """Active members of each association, by association id."""
    if not association_ids:
        return {}
    query = (
        select(Membership.association_id, func.count())
        .where(
            col(Membership.association_id).in_(association_ids),
            Membership.status == "active",
        )
        .group_by(Membership.association_id)
    )
    counts = dict.fromkeys(association_ids, 0)
    counts.update({row[0]: row[1] for row in session.exec(query)})
    return counts


def members_count(session: Session, association: Association) -> int:
    """How many active members the association has."""
    assert association.id is not None
    return members_counts(session, [association.id])[association.id]


def update_settings(
    session: Session,
    *,
    association: Association,
    by: User,
    name: str | None = None,
    description: str | None = None,
    website: str | None = None,
    join_policy: str | None = None,
    is_hidden: bool | None = None,
    approve_follows: bool | None = None,
    monthly_note: bool | None = None,
) -> Association:
    """Change the settings given (None keeps a value); the slug never changes."""
    require_permission(by, membership_of(session, association, by), "manage_settings")
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    for field, check, value in (
        ("name", check_name, name),
        ("description", check_description, description),
        ("website", check_website, website),
        ("join_policy", check_join_policy, join_policy),
    ):
        if value is not None:
            values[field] = _collect(errors, check, value)
    if errors:
        raise Invalid(errors)
    if "name" in values and find_by_name(session, values["name"], exclude_id=association.id):
        raise Invalid({"name": _("An association with this name already exists.")})
    if values.get("name", association.name) != association.name and association.id is not None:
        summary_changes.mark_association(session, association_id=association.id)
    for field, value in values.items():
        setattr(association, field, value)
    if is_hidden is not None:
        association.is_hidden = is_hidden
    if approve_follows is not None:
        association.approve_follows = approve_follows
    if monthly_note is not None:
        association.monthly_note = monthly_note
    touch(association)
    session.add(association)
    session.flush()
    return association


def set_logo(session: Session, *, association: Association, by: User, logo: str) -> str:
    """Record the association's new logo file name; return the old one (to delete)."""
    require_permission(by, membership_of(session, association, by), "manage_settings")
    old = association.logo
    association.logo = logo
    touch(association)
    session.add(association)
    session.flush()
    return old


def set_archived(
    session: Session, *, association: Association, by: User, archived: bool
) -> Association:
    """Archive (no more joins) or bring back an association; owners only."""
    require_owner(by, membership_of(session, association, by))
    association.is_archived = archived
    touch(association)
    session.add(association)
    session.flush()
    return association


def delete_association(
    session: Session, *, association: Association, by: User, confirmation: str | None = None
) -> str:
    """Delete an association and its memberships; its name stays taken. Returns the logo."""
    require_owner(by, membership_of(session, association, by))
    if confirmation is not None and confirmation.strip() != association.name:
        raise Invalid({"confirmation": _("Type the exact name of the association.")})
    logo = association.logo
    for hook in BEFORE_DELETE:
        hook(session, association)
    # Memberships and invitations go with it (ON DELETE CASCADE in the database).
    session.delete(association)
    session.flush()
    return logo
