"""Reading actions for the API: pages newest first with an opaque cursor, the validation queue."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, bindparam
from sqlmodel import Session, and_, col, or_, select

from instance.action_rules import ActionFilters, caller_in, cursor_text, read_cursor
from instance.errors import Forbidden
from instance.i18n import _
from schema.tables import Action, Association, Membership, User


@dataclass(frozen=True)
class ActionPage:
    """One page of actions, newest first, and the cursor of the next page.

    The actions are rows (their columns by name, as an Action's attributes): lists
    only show them, and rows cost a fraction of ORM objects.
    """

    items: list[Row[Any]]
    next: str | None


_COLUMNS = tuple(Action.__table__.columns)  # type: ignore[attr-defined]


def _filtered(query: Any, filters: ActionFilters) -> Any:
    for field in ("category_id", "project_id", "level_id", "status"):
        value = getattr(filters, field)
        if value is not None:
            query = query.where(getattr(Action, field) == value)
    if filters.volunteer_id is not None:
        query = query.where(Action.membership_id == filters.volunteer_id)
    if filters.start is not None:
        query = query.where(Action.date >= filters.start)
    if filters.end is not None:
        query = query.where(Action.date <= filters.end)
    return query


def list_actions(
    session: Session,
    *,
    association: Association,
    user: User | None,
    membership: Membership | None = None,
    filters: ActionFilters | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> ActionPage:
    """Actions of the association the caller may see (volunteers: their own), newest first."""
    caller = caller_in(session, association, user, membership)
    query = select(*_COLUMNS).where(Action.association_id == association.id)
    if not caller.may_view_all:
        if caller.membership is None or caller.membership.status != "active":
            raise Forbidden(_("Only members may see actions."))
        query = query.where(Action.membership_id == caller.membership.id)
    query = _filtered(query, filters or ActionFilters())
    if cursor:
        day, number = read_cursor(cursor)
        query = query.where(
            or_(Action.date < day, and_(Action.date == day, col(Action.id) < number))
        )
    query = query.order_by(col(Action.date).desc(), col(Action.id).desc()).limit(limit + 1)
    items = list(session.connection().execute(query).all())
    more = len(items) > limit
    items = items[:limit]
    return ActionPage(items=items, next=cursor_text(items[-1]) if more else None)


def validation_queue(
    session: Session,
    *,
    association: Association,
    user: User | None,
    membership: Membership | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> ActionPage:
    """The actions awaiting validation, for managers who see every action."""
    caller = caller_in(session, association, user, membership)
    if not caller.may_view_all:
        raise Forbidden(_("Only managers may see the actions awaiting validation."))
    filters = ActionFilters(status="pending")
    return list_actions(
        session,
        association=association,
        user=user,
        membership=caller.membership,
        filters=filters,
        cursor=cursor,
        limit=limit,
    )


def usernames(session: Session, user_ids: Iterable[int | None]) -> dict[int, str]:
    """The usernames of these accounts, by id."""
    wanted = {user_id for user_id in user_ids if user_id is not None}
    if not wanted:
        return {}
    rows = session.connection().execute(_USERNAMES, {"ids": list(wanted)}).all()
    return {user_id: name for user_id, name in rows if user_id is not None}


_USERNAMES = select(User.id, User.username).where(
    col(User.id).in_(bindparam("ids", expanding=True))
)
