"""Reading actions for the API: pages newest first with an opaque cursor, the validation queue."""

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Row, bindparam
from sqlmodel import Session, and_, col, or_, select

from instance.action_lists import bound_conditions, list_params
from instance.action_rules import ActionFilters, caller_in, cursor_text, read_cursor
from instance.errors import Forbidden
from instance.i18n import _
from schema.tables import Action, Association, Membership, User


@dataclass(frozen=True)
class ActionPage:
    """One page of actions, newest first, and the cursor of the next page.

    The actions are rows (their columns by name, as an Action's attributes, those
    of _COLUMNS only): lists only show them, and rows cost a fraction of ORM objects.
    """

    items: list[Row[Any]]
    next: str | None


#: What the API and the pages built on this list read of an action.
_COLUMNS = tuple(
    Action.__table__.c[name]  # type: ignore[attr-defined]
    for name in (
        "id",
        "association_id",
        "membership_id",
        "date",
        "end_date",
        "minutes",
        "travel_minutes",
        "category_id",
        "project_id",
        "level_id",
        "title",
        "description",
        "distance_hundredths",
        "status",
        "refusal_reason",
        "rate_cents",
        "created_by_id",
        "created_at",
        "updated_at",
    )
)
_AFTER_CURSOR = or_(
    col(Action.date) < bindparam("cursor_day"),
    and_(col(Action.date) == bindparam("cursor_day"), col(Action.id) < bindparam("cursor_id")),
)


@cache
def _statement(names: frozenset[str], after_cursor: bool) -> Any:
    """The list's statement for this set of conditions, built once."""
    where = [*bound_conditions(names), *([_AFTER_CURSOR] if after_cursor else [])]
    return (
        select(*_COLUMNS)
        .where(*where)
        .order_by(col(Action.date).desc(), col(Action.id).desc())
        .limit(bindparam("limit"))
    )


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
    own = None
    if not caller.may_view_all:
        if caller.membership is None or caller.membership.status != "active":
            raise Forbidden(_("Only members may see actions."))
        own = caller.membership.id
    params = list_params(association.id or 0, filters or ActionFilters(), own)
    statement = _statement(frozenset(params), bool(cursor))
    if cursor:
        params["cursor_day"], params["cursor_id"] = read_cursor(cursor)
    params["limit"] = limit + 1
    items = list(session.connection().execute(statement, params).all())
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
