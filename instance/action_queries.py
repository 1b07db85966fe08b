"""Reading actions for the API: pages newest first with an opaque cursor, the validation queue."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import bindparam
from sqlmodel import Session, and_, col, or_, select

from instance.action_lists import bound_conditions, list_params
from instance.action_rules import ActionFilters, caller_in, cursor_text, read_cursor
from instance.errors import Forbidden
from instance.i18n import _
from schema.tables import Action, Association, Membership, User


@dataclass(frozen=True)
class ActionPage:
    """One page of actions, newest first, and the cursor of the next page.

    The actions are ListedActions (some columns, named as an Action's attributes):
    lists only show them, and tuples cost a fraction of ORM objects.
    """

    items: list["ListedAction"]
    next: str | None


class ListedAction(NamedTuple):
    """What the API and the pages built on list_actions read of an action (plain tuples:
    an attribute of an SQLAlchemy row costs ten times a tuple's)."""

    id: int
    association_id: int
    membership_id: int
    date: date
    end_date: date | None
    minutes: int
    travel_minutes: int | None
    category_id: int
    project_id: int | None
    level_id: int | None
    title: str
    description: str
    distance_hundredths: int | None
    status: str
    refusal_reason: str
    rate_cents: int | None
    created_by_id: int | None
    created_at: datetime
    updated_at: datetime


_COLUMNS = tuple(Action.__table__.c[name] for name in ListedAction._fields)  # type: ignore[attr-defined]
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
    rows = session.connection().execute(statement, params).all()
    items = [ListedAction._make(row) for row in rows]
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
