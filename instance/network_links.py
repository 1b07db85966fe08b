"""An association's memberships of networks, seen from the association (``NetworkLink``).

Federation creates a link when a manager asks to join a network, and moves its
status with the network's answers: pending, active, refused, left. Here: the
listings, the lookup by id or by the network's handle, the status changes,
and the mapping of the association's own categories onto the network's
reference categories (every unmapped category counts as "other").
"""

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from instance import report_changes
from instance.config import Config
from instance.errors import Invalid, NotFound
from instance.i18n import _
from instance.network_privacy import OTHER
from schema.tables import Association, Category, NetworkLink, ReferenceCategory, RemoteActor
from schema.tables._base import utcnow

STATUSES = ("pending", "active", "refused", "left")
LIVE = ("pending", "active")
MAX_LIMIT = 200
MAX_MAPPING = 1000


def list_links(
    session: Session, *, association: Association, after: int | None = None, limit: int = 50
) -> list[NetworkLink]:
    """The association's links to networks (every status), by id, after a position."""
    query = select(NetworkLink).where(NetworkLink.association_id == association.id)
    if after is not None:
        query = query.where(col(NetworkLink.id) > after)
    return list(session.exec(query.order_by(col(NetworkLink.id)).limit(limit)).all())


def find_link(session: Session, *, association_id: int, network_uri: str) -> NetworkLink | None:
    """The association's link to this network actor, if it ever asked to join it."""
    query = select(NetworkLink).where(
        NetworkLink.association_id == association_id, NetworkLink.network_uri == network_uri
    )
    return session.exec(query).first()


def get_link(session: Session, *, association: Association, link_id: object) -> NetworkLink:
    """One of the association's links by id; raise NotFound."""
    if not isinstance(link_id, int) or isinstance(link_id, bool) or not 0 < link_id < 2**31:
        raise NotFound(_("No such network."))
    link = session.get(NetworkLink, link_id)
    if link is None or link.association_id != association.id:
        raise NotFound(_("No such network."))
    return link


def local_slug(config: Config, network_uri: str) -> str | None:
    """The slug of a network on this instance named by its actor URI, else None."""
    prefix = config.base_url.rstrip("/") + "/associations/"
    rest = network_uri.removeprefix(prefix)
    if rest == network_uri or not rest or "/" in rest:
        return None
    return rest


def handle_of(session: Session, config: Config, link: NetworkLink) -> str:
    """The network's handle name@host (its actor URI when it has no name)."""
    slug = local_slug(config, link.network_uri)
    if slug is not None:
        return f"{slug}@{config.domain}"
    remote = remote_of(session, link)
    if remote is None or not remote.preferred_username:
        return link.network_uri
    return f"{remote.preferred_username}@{remote.host}"


def remote_of(session: Session, link: NetworkLink) -> RemoteActor | None:
    """The cached actor of a network on another instance (None for ours)."""
    query = select(RemoteActor).where(RemoteActor.uri == link.network_uri)
    return session.exec(query).first()


def name_of(session: Session, config: Config, link: NetworkLink) -> str:
    """The network's name as it publishes it (its handle when it has none)."""
    slug = local_slug(config, link.network_uri)
    if slug is not None:
        found = session.exec(select(Association).where(Association.slug == slug)).first()
        return found.name if found is not None else f"{slug}@{config.domain}"
    remote = remote_of(session, link)
    if remote is not None and remote.name:
        return remote.name
    return handle_of(session, config, link)


def get_by_handle(
    session: Session, *, config: Config, association: Association, handle: object
) -> NetworkLink:
    """One of the association's links by the network's handle (name@host); raise NotFound."""
    if not isinstance(handle, str) or not 0 < len(handle) <= 2048:
        raise NotFound(_("No such network."))
    wanted = handle.strip().removeprefix("@").lower()
    for link in list_links(session, association=association, limit=10_000):
        if handle_of(session, config, link).lower() == wanted:
            return link
    raise NotFound(_("No such network."))


def set_status(session: Session, *, link: NetworkLink, status: str) -> NetworkLink:
    """Move a link to a status; becoming active notes every month to report."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    was = link.status
    link.status = status
    link.updated_at = utcnow()
    session.add(link)
    session.flush()
    if status == "active" and was != "active":
        report_changes.mark_all(session, association_id=link.association_id)
    return link


def parse_mapping(text: str) -> dict[str, str]:
    """A stored mapping {our category id (str): reference key}; bad entries dropped."""
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): v for k, v in found.items() if isinstance(v, str) and v}


def mapping_of(link: NetworkLink) -> dict[str, str]:
    """The link's stored mapping {our category id (str): reference key}."""
    return parse_mapping(link.mapping)


@dataclass(frozen=True)
class OwnCategory:
    """A category the association maps: one of its own, or a network's reference category."""

    id: int
    name: str
    archived: bool


def own_categories(session: Session, association: Association) -> list[OwnCategory]:
    """What the association maps, archived last, by name.

    A network that is itself a member of a wider network states the sums of its
    members' reports, which are broken down by its reference categories: those
    are what it maps.
    """
    if association.is_network:
        query = select(ReferenceCategory).where(ReferenceCategory.network_id == association.id)
        found = [OwnCategory(r.id or 0, r.label, r.archived) for r in session.exec(query)]
    else:
        rows = session.exec(select(Category).where(Category.association_id == association.id))
        found = [OwnCategory(c.id or 0, c.name, c.archived) for c in rows]
    return sorted(found, key=lambda c: (c.archived, c.name.lower(), c.id))


def _category_id(raw: object) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if 0 < raw < 2**31 else None
    if isinstance(raw, str) and raw.isdigit() and len(raw) < 11:
        return int(raw) if 0 < int(raw) < 2**31 else None
    return None


def check_mapping(
    session: Session, *, link: NetworkLink, mapping: object, terms: Collection[str]
) -> dict[str, str]:
    """The mapping cleaned ("other" entries dropped); Invalid naming each wrong entry."""
    if not isinstance(mapping, dict) or len(mapping) > MAX_MAPPING:
        raise Invalid({"mapping": _("Give each category's network category.")})
    association = session.get(Association, link.association_id)
    assert association is not None
    ours = {c.id for c in own_categories(session, association)}
    keys = set(terms) | {OTHER}
    errors: dict[str, str] = {}
    clean: dict[str, str] = {}
    for raw_id, key in mapping.items():
        number = _category_id(raw_id)
        label = str(raw_id)[:20]
        if number is None or number not in ours:
            errors[f"mapping.{label}"] = _("This is not one of your categories.")
        elif not isinstance(key, str) or key not in keys:
            errors[f"mapping.{label}"] = _("Choose one of the network's categories.")
        elif key != OTHER:
            clean[str(number)] = key
    if errors:
        raise Invalid(errors)
    return clean


def set_mapping(
    session: Session, *, link: NetworkLink, mapping: object, terms: Collection[str]
) -> NetworkLink:
    """Map our categories onto the network's reference keys; every report is rebuilt."""
    clean = check_mapping(session, link=link, mapping=mapping, terms=terms)
    link.mapping = json.dumps(dict(sorted(clean.items())), separators=(",", ":"))
    link.updated_at = utcnow()
    session.add(link)
    session.flush()
    report_changes.mark_all(session, association_id=link.association_id)
    return link


def mapping_rows(
    session: Session, *, link: NetworkLink, association: Association
) -> list[dict[str, Any]]:
    """Each of our categories with the reference key it counts under ("other" by default)."""
    mapping = mapping_of(link)
    return [
        {
            "id": category.id,
            "name": category.name,
            "archived": category.archived,
            "key": mapping.get(str(category.id), OTHER),
        }
        for category in own_categories(session, association)
    ]
