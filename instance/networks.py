"""Networks of associations on their own instance: lookup, profile and reference categories.

A network is an association marked ``is_network``. Its profile holds the
small-count threshold and the licence of its open data; its reference
categories are the list its members map their own categories onto. The key
``other`` always exists, stays last and cannot be archived: unmapped minutes
and small categories go there.
"""

import re

from sqlmodel import Session, select

from instance import associations
from instance.errors import Conflict, Invalid, NotFound
from instance.i18n import _
from instance.network_privacy import OTHER
from instance.network_setup import (
    DEFAULT_LICENCE,
    LICENCES,
    THRESHOLD_MAX,
    THRESHOLD_MIN,
    Licence,
)
from schema.tables import Association, Membership, NetworkProfile, ReferenceCategory, User
from schema.tables._base import utcnow

LABEL_MAX = 100
KEY_MAX = 64
KEY_SHAPE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
CATEGORIES_MAX = 100


def get_network(
    session: Session, slug: str, user: User | None
) -> tuple[Association, Membership | None]:
    """The network of this slug and the person's membership; NotFound if hidden or not one."""
    association, membership = associations.get_visible(session, slug, user)
    if not association.is_network:
        raise NotFound(_("This association is not a network."))
    return association, membership


def require(user: User | None, membership: Membership | None, permission: str) -> None:
    """Raise Forbidden unless the person holds the permission in the network."""
    associations.require_permission(user, membership, permission)


def profile_of(session: Session, network: Association) -> NetworkProfile:
    """The network's profile (its defaults when none was stored yet)."""
    assert network.id is not None
    found = session.get(NetworkProfile, network.id)
    return found or NetworkProfile(association_id=network.id, open_data_licence=DEFAULT_LICENCE)


def licence_of(profile: NetworkProfile) -> Licence:
    """The licence the network chose (the default one if unknown)."""
    return LICENCES.get(profile.open_data_licence) or LICENCES[DEFAULT_LICENCE]


def check_threshold(value: object, *, field: str = "threshold") -> int:
    """A threshold from 1 to 50 (a number or its digits); raise Invalid."""
    message = _("Enter a whole number from {low} to {high}.").format(
        low=THRESHOLD_MIN, high=THRESHOLD_MAX
    )
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 3:
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool):
        raise Invalid({field: message})
    if not THRESHOLD_MIN <= value <= THRESHOLD_MAX:
        raise Invalid({field: message})
    return value


def check_licence(value: object, *, field: str = "licence") -> str:
    """One of the licences offered; raise Invalid."""
    if not isinstance(value, str) or value not in LICENCES:
        raise Invalid({field: _("Choose one of the licences offered.")})
    return value


def update_profile(
    session: Session,
    *,
    network: Association,
    by: User,
    threshold: object = None,
    licence: object = None,
) -> NetworkProfile:
    """Change the threshold and the open-data licence given (None keeps a value)."""
    require(by, associations.membership_of(session, network, by), "manage_settings")
    errors: dict[str, str] = {}
    values: dict[str, object] = {}
    for field, check, value in (
        ("threshold", check_threshold, threshold),
        ("open_data_licence", check_licence, licence),
    ):
        if value is None:
            continue
        try:
            values[field] = check(value)
        except Invalid as error:
            errors.update(error.errors)
    if errors:
        raise Invalid(errors)
    assert network.id is not None
    profile = session.get(NetworkProfile, network.id) or profile_of(session, network)
    for field, value in values.items():
        setattr(profile, field, value)
    session.add(profile)
    associations.touch(network)
    session.add(network)
    session.flush()
    return profile


# Reference categories


def _ordering(category: ReferenceCategory) -> tuple[bool, int, int]:
    return (category.key == OTHER, category.position, category.id or 0)


def list_categories(
    session: Session, *, network: Association, archived: bool | None = False
) -> list[ReferenceCategory]:
    """The network's categories in order ("other" last); archived ones, or all with None."""
    query = select(ReferenceCategory).where(ReferenceCategory.network_id == network.id)
    if archived is not None:
        query = query.where(ReferenceCategory.archived == archived)
    found = sorted(session.exec(query).all(), key=_ordering)
    if archived is not True and not any(category.key == OTHER for category in found):
        # A network made before its list existed still has "other".
        found.append(ReferenceCategory(network_id=network.id or 0, key=OTHER, label=_("Other")))
    return found


def category_labels(session: Session, network: Association) -> dict[str, str]:
    """Every key the network ever listed (archived too), with its label."""
    return {
        category.key: category.label
        for category in list_categories(session, network=network, archived=None)
    }


def get_category(
    session: Session, *, network: Association, key: str | None = None, category_id: object = None
) -> ReferenceCategory:
    """One of the network's categories, by key or by id; raise NotFound."""
    query = select(ReferenceCategory).where(ReferenceCategory.network_id == network.id)
    number = category_id if isinstance(category_id, int) else None
    if isinstance(category_id, str) and category_id.isdigit() and len(category_id) < 11:
        number = int(category_id)
    if key is not None:
        query = query.where(ReferenceCategory.key == key)
    elif number is not None and not isinstance(number, bool) and 0 < number < 2**31:
        query = query.where(ReferenceCategory.id == number)
    else:
        raise NotFound(_("No such category."))
    found = session.exec(query).first()
    if found is None:
        raise NotFound(_("No such category."))
    return found


def check_label(label: object, *, field: str = "label") -> str:
    """A category's trimmed label, 1 to 100 characters; raise Invalid."""
    if not isinstance(label, str) or not label.strip():
        raise Invalid({field: _("Enter a name.")})
    if len(label.strip()) > LABEL_MAX:
        raise Invalid({field: _("Use at most 100 characters.")})
    return label.strip()


def key_from(label: str) -> str:
    """A key made from a label: lower case, no accents, words joined by hyphens."""
    words = re.findall(r"[a-z0-9]+", associations.name_key(label))
    return "-".join(words)[:KEY_MAX].strip("-") or "category"


def _free_key(session: Session, network: Association, wanted: str) -> str:
    taken = set(
        session.exec(
            select(ReferenceCategory.key).where(ReferenceCategory.network_id == network.id)
        ).all()
    )
    key, number = wanted, 2
    while key in taken:
        suffix = f"-{number}"
        key, number = wanted[: KEY_MAX - len(suffix)] + suffix, number + 1
    return key


def _check_key(session: Session, network: Association, key: object) -> str:
    if not isinstance(key, str) or len(key) > KEY_MAX or not KEY_SHAPE.fullmatch(key):
        raise Invalid(
            {"key": _("Use lower-case letters, digits and hyphens (at most 64 characters).")}
        )
    exists = session.exec(
        select(ReferenceCategory.id).where(
            ReferenceCategory.network_id == network.id, ReferenceCategory.key == key
        )
    ).first()
    if exists is not None:
        raise Invalid({"key": _("This key is already used.")})
    return key


def _managed(session: Session, network: Association, by: User) -> None:
    require(by, associations.membership_of(session, network, by), "manage_settings")


def add_category(
    session: Session, *, network: Association, by: User, label: object, key: object = None
) -> ReferenceCategory:
    """Add a reference category at the end of the list (before "other")."""
    _managed(session, network, by)
    clean = check_label(label)
    if key is not None and key != "":
        chosen = _check_key(session, network, key)
    else:
        chosen = _free_key(session, network, key_from(clean))
    current = list_categories(session, network=network, archived=None)
    if len(current) >= CATEGORIES_MAX:
        raise Invalid({"label": _("A network has at most 100 categories.")})
    position = max((c.position for c in current if c.key != OTHER), default=-1) + 1
    category = ReferenceCategory(
        network_id=network.id or 0, key=chosen, label=clean, position=position
    )
    session.add(category)
    _touched(session, network)
    return category


def _touched(session: Session, network: Association) -> None:
    network.updated_at = utcnow()
    session.add(network)
    session.flush()


def rename_category(
    session: Session, *, network: Association, by: User, category: ReferenceCategory, label: object
) -> ReferenceCategory:
    """Change a category's label (its key, which members map onto, stays)."""
    _managed(session, network, by)
    category.label = check_label(label)
    session.add(category)
    _touched(session, network)
    return category


def place_category(
    session: Session, *, network: Association, by: User, category: ReferenceCategory, position: int
) -> ReferenceCategory:
    """Move a category to a place in the list (0 is first); "other" stays last."""
    _managed(session, network, by)
    if category.key == OTHER:
        raise Conflict(_("The category Other always comes last."))
    if category.archived:
        raise Conflict(_("Bring the category back before moving it."))
    others = [
        found
        for found in list_categories(session, network=network)
        if found.key != OTHER and found.id != category.id
    ]
    others.insert(max(0, min(position, len(others))), category)
    for number, found in enumerate(others):
        found.position = number
        session.add(found)
    _touched(session, network)
    return category


def move_category(
    session: Session, *, network: Association, by: User, category: ReferenceCategory, step: int
) -> ReferenceCategory:
    """Move a category up (step -1) or down (step 1) in the list."""
    order = [c.id for c in list_categories(session, network=network) if c.key != OTHER]
    where = order.index(category.id) if category.id in order else 0
    return place_category(
        session, network=network, by=by, category=category, position=max(0, where + step)
    )


def archive_category(
    session: Session,
    *,
    network: Association,
    by: User,
    category: ReferenceCategory,
    archived: bool = True,
) -> ReferenceCategory:
    """Stop offering a category (past reports keep it), or bring it back; never "other"."""
    _managed(session, network, by)
    if category.key == OTHER and archived:
        raise Conflict(_("The category Other cannot be removed."))
    if category.archived != archived:
        category.archived = archived
        if not archived:
            current = list_categories(session, network=network)
            category.position = max((c.position for c in current if c.key != OTHER), default=-1) + 1
        session.add(category)
        _touched(session, network)
    return category
