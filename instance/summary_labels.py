"""How a summary names its groups: categories, projects, levels and members by id."""

from typing import Any

from sqlalchemy import bindparam, literal, union_all
from sqlmodel import Session, col, select

from instance.i18n import _
from schema.tables import Category, Level, Membership, Project, User

ENTRY_MODELS: dict[str, Any] = {"category": Category, "project": Project, "level": Level}
_ENTRY_NAMES = union_all(
    *(
        select(literal(kind).label("kind"), model.id, model.name).where(
            model.association_id == bindparam("association_id")
        )
        for kind, model in ENTRY_MODELS.items()
    )
)


def labels_of(
    session: Session, association_id: int, dimension: str, keys: list[Any]
) -> dict[Any, str]:
    if dimension == "volunteer":
        return volunteer_labels(session, [key for key in keys if key])
    return entry_labels(session, association_id)[dimension]


def entry_labels(session: Session, association_id: int) -> dict[str, dict[Any, str]]:
    """Names of the association's categories, projects and levels by id, by kind."""
    found: dict[str, dict[Any, str]] = {
        kind: {0: _("No project") if kind == "project" else _("No level")} for kind in ENTRY_MODELS
    }
    rows = session.connection().execute(_ENTRY_NAMES, {"association_id": association_id})
    for kind, entry_id, name in rows:
        found[kind][entry_id] = name
    return found


def member_label(label: str | None, display: str | None, username: str | None) -> str:
    """How to name a member: their display name, username or access-link label."""
    return display or username or label or _("Former member")


def volunteer_labels(session: Session, membership_ids: list[int]) -> dict[Any, str]:
    """How to name these members: their display name, username or access-link label."""
    if not membership_ids:
        return {}
    query = (
        select(Membership.id, Membership.label, User.display_name, User.username)
        .join(User, col(Membership.user_id) == col(User.id), isouter=True)
        .where(col(Membership.id).in_(membership_ids))
    )
    return {
        member_id: member_label(label, display, username)
        for member_id, label, display, username in session.exec(query)
    }
