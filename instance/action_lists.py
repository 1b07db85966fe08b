"""The lists of actions people read: pending first then newest, with the list's totals.

A page is read with at most two index-served queries (the pending actions, then
the others, both newest first) instead of sorting every action. The totals
under a list come from the monthly rollups when the list is narrowed by dates
and at most one of volunteer, category, project or level (plus its status);
other filters, and lists of fewer than SMALL_LIST actions (where it costs as little),
add the matching actions up in one grouped query.
"""

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Row, bindparam, exists, literal_column, union_all
from sqlmodel import Session, col, func, or_, select

from instance.action_rules import ActionFilters
from instance.i18n import _
from instance.periods import FIRST_DATE, Period
from instance.summary_periods import edge_sums
from instance.summary_sums import Counters, add, rollup_total, split
from schema.tables import Action, Category, Level, Membership, Project, User

PER_PAGE = 20
#: Below this many actions, a list's totals are added up from the actions themselves.
SMALL_LIST = 2000
LAST_DATE = date(9999, 12, 31)
#: Filters naming one rollup dimension, with the dimension they read.
DIMENSION_FILTERS = {
    "volunteer_id": "volunteer",
    "category_id": "category",
    "project_id": "project",
    "level_id": "level",
}


@dataclass(frozen=True)
class ListTotals:
    """Totals of a filtered list of actions, by status (travel and distance: validated ones)."""

    actions: int = 0
    minutes: int = 0
    pending_actions: int = 0
    pending_minutes: int = 0
    refused_actions: int = 0
    travel_minutes: int = 0
    distance_hundredths: int = 0

    @property
    def count(self) -> int:
        """Every action of the list, whatever its status."""
        return self.actions + self.pending_actions + self.refused_actions


def conditions(filters: ActionFilters) -> list[Any]:
    """SQL conditions on actions for the filters."""
    found: list[Any] = []
    for field in ("category_id", "project_id", "level_id", "status"):
        value = getattr(filters, field)
        if value is not None:
            found.append(getattr(Action, field) == value)
    if filters.volunteer_id is not None:
        found.append(Action.membership_id == filters.volunteer_id)
    if filters.start is not None:
        found.append(Action.date >= filters.start)
    if filters.end is not None:
        found.append(Action.date <= filters.end)
    return found


_COLUMNS = tuple(Action.__table__.columns)  # type: ignore[attr-defined]


def _newest(where: list[Any], offset: int, limit: int) -> Any:
    return (
        select(*_COLUMNS)
        .where(*where)
        .order_by(col(Action.date).desc(), col(Action.id).desc())
        .offset(offset)
        .limit(limit)
    )


def pending_first_page(
    session: Session, where: list[Any], page: int, pending: int, per_page: int = PER_PAGE
) -> tuple[list[Row[Any]], bool]:
    """One page of the actions matching `where`, pending first then newest; and whether more follow.

    `pending` is how many of them wait for validation (from the list's totals). The
    actions come as rows (their columns by name, as an Action's attributes): a page
    only shows them, and rows cost a fraction of ORM objects.
    """
    offset, wanted = (page - 1) * per_page, per_page + 1
    connection = session.connection()
    items: list[Row[Any]] = []
    if offset < pending:
        query = _newest([*where, Action.status == "pending"], offset, wanted)
        items = list(connection.execute(query))
    if len(items) < wanted:
        query = _newest(
            [*where, Action.status != "pending"], max(0, offset - pending), wanted - len(items)
        )
        items += connection.execute(query)
    return items[:per_page], len(items) > per_page


def pending_count(session: Session, where: list[Any]) -> int:
    """How many of the actions matching `where` wait for validation."""
    query = select(func.count()).select_from(Action).where(*where, Action.status == "pending")
    return int(session.exec(query).one())


def _from_counters(counters: Counters, refused: int) -> ListTotals:
    return ListTotals(
        actions=counters.get("actions_counted", 0),
        minutes=counters.get("minutes_counted", 0),
        pending_actions=counters.get("actions_pending", 0),
        pending_minutes=counters.get("minutes_pending", 0),
        refused_actions=refused,
        travel_minutes=counters.get("travel_minutes_counted", 0),
        distance_hundredths=counters.get("distance_hundredths", 0),
    )


def _refused(session: Session, where: list[Any]) -> int:
    query = select(func.count()).select_from(Action).where(*where, Action.status == "refused")
    return int(session.exec(query).one())


def _masked(totals: ListTotals, status: str | None) -> ListTotals:
    if status is None:
        return totals
    return ListTotals(
        actions=totals.actions if status == "validated" else 0,
        minutes=totals.minutes if status == "validated" else 0,
        pending_actions=totals.pending_actions if status == "pending" else 0,
        pending_minutes=totals.pending_minutes if status == "pending" else 0,
        refused_actions=totals.refused_actions if status == "refused" else 0,
        travel_minutes=totals.travel_minutes if status == "validated" else 0,
        distance_hundredths=totals.distance_hundredths if status == "validated" else 0,
    )


def _rollup_counters(
    session: Session, association_id: int, filters: ActionFilters, dimension: str, key_id: int
) -> Counters:
    period = Period(max(filters.start or FIRST_DATE, FIRST_DATE), filters.end or LAST_DATE)
    parts = split(period)
    counters = rollup_total(session, association_id, parts, dimension, key_id)
    member = key_id if dimension == "volunteer" else None
    grouping = None if dimension in {"total", "volunteer"} else dimension
    for start, end in parts.edges:
        edge = edge_sums(session, association_id, start, end, key=grouping, membership_id=member)
        add(counters, edge.get(0 if grouping is None else key_id, {}))
    return counters


def association_totals(
    session: Session, *, association_id: int, filters: ActionFilters, membership_id: int | None
) -> ListTotals:
    """Totals of an association's list (`membership_id`: a volunteer's own list)."""
    where = [Action.association_id == association_id, *conditions(filters)]
    if membership_id is not None:
        where.append(Action.membership_id == membership_id)
    keyed = {
        dimension: getattr(filters, field)
        for field, dimension in DIMENSION_FILTERS.items()
        if getattr(filters, field) is not None
    }
    if membership_id is not None:
        if keyed.get("volunteer", membership_id) != membership_id:
            return ListTotals()
        keyed["volunteer"] = membership_id
    if len(keyed) > 1 or (filters.start and filters.end and filters.start > filters.end):
        return grouped_totals(session, where)
    dimension, key_id = next(iter(keyed.items()), ("total", 0))
    counters = _rollup_counters(session, association_id, filters, dimension, key_id)
    if counters.get("actions_counted", 0) + counters.get("actions_pending", 0) < SMALL_LIST:
        return grouped_totals(session, where)
    refused = 0 if filters.status not in {None, "refused"} else _refused(session, where)
    return _masked(_from_counters(counters, refused), filters.status)


def grouped_totals(session: Session, where: list[Any]) -> ListTotals:
    """Totals of the actions matching `where`, added up from the actions (one grouped query)."""
    query = select(
        Action.status,
        func.count(),
        func.coalesce(func.sum(Action.minutes), 0),
        func.coalesce(func.sum(Action.travel_minutes), 0),
        func.coalesce(func.sum(Action.distance_hundredths), 0),
    ).where(*where)
    counters: Counters = {}
    refused = 0
    for status, number, minutes, travel, distance in session.exec(query.group_by(Action.status)):
        if status == "refused":
            refused = int(number)
        elif status == "pending":
            add(counters, {"actions_pending": int(number), "minutes_pending": int(minutes)})
        elif status == "validated":
            add(
                counters,
                {
                    "actions_counted": int(number),
                    "minutes_counted": int(minutes),
                    "travel_minutes_counted": int(travel),
                    "distance_hundredths": int(distance),
                },
            )
    return _from_counters(counters, refused)


def _entries(kind: str, model: Any) -> Any:
    return select(  # type: ignore[call-overload]
        literal_column(f"'{kind}'").label("kind"),
        model.id,
        model.name,
        func.lower(model.name).label("sort_name"),
    ).where(model.association_id == bindparam("association_id"))


# The three taxonomies in one statement, built once (a list page reads them every time).
_ENTRIES = union_all(
    _entries("category", Category), _entries("project", Project), _entries("level", Level)
).order_by(literal_column("kind"), literal_column("sort_name"), literal_column("id"))


def entry_names(session: Session, association_id: int) -> dict[str, list[tuple[int, str]]]:
    """(id, name) of the association's categories, projects and levels, by name (archived too)."""
    found: dict[str, list[tuple[int, str]]] = {"category": [], "project": [], "level": []}
    params = {"association_id": association_id}
    for kind, entry_id, name, _sort in session.connection().execute(_ENTRIES, params):
        if entry_id:
            found[kind].append((entry_id, name))
    return found


def member_choices(session: Session, association_id: int) -> list[tuple[int, str]]:
    """Every member who is active or has recorded an action, by name (a list's filter)."""
    has_actions = exists().where(Action.membership_id == Membership.id)
    query = (
        select(Membership.id, Membership.label, User.display_name, User.username)
        .join(User, col(Membership.user_id) == col(User.id), isouter=True)
        .where(
            Membership.association_id == association_id,
            or_(Membership.status == "active", has_actions),
        )
    )
    names = [
        (member_id, display or username or label or _("Former member"))
        for member_id, label, display, username in session.connection().execute(query)
        if member_id is not None
    ]
    return sorted(names, key=lambda pair: pair[1].lower())
