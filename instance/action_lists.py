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
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import bindparam, exists, literal_column, union_all
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


class ShownAction(NamedTuple):
    """What a list shows of an action (and needs to tell whether it may be changed).

    Read as plain tuples: an attribute of an SQLAlchemy row costs ten times a
    tuple's, and a page reads a dozen per action.
    """

    id: int
    association_id: int
    membership_id: int
    date: date
    end_date: date | None
    minutes: int
    category_id: int
    project_id: int | None
    level_id: int | None
    title: str
    status: str
    refusal_reason: str


_SHOWN = tuple(Action.__table__.c[name] for name in ShownAction._fields)  # type: ignore[attr-defined]
#: Every condition a list's filters may set, each with its parameter: an association's
#: list runs statements built once per combination (building a statement costs
#: SQLAlchemy more than SQLite takes to answer these indexed queries).
_CONDITIONS = {
    "association_id": Action.association_id == bindparam("association_id"),
    "own": Action.membership_id == bindparam("own"),
    "volunteer_id": Action.membership_id == bindparam("volunteer_id"),
    "category_id": Action.category_id == bindparam("category_id"),
    "project_id": Action.project_id == bindparam("project_id"),
    "level_id": Action.level_id == bindparam("level_id"),
    "status": Action.status == bindparam("status"),
    "start": col(Action.date) >= bindparam("start"),
    "end": col(Action.date) <= bindparam("end"),
}
_FILTER_FIELDS = ("volunteer_id", "category_id", "project_id", "level_id", "status", "start", "end")


def list_params(
    association_id: int, filters: ActionFilters, membership_id: int | None
) -> dict[str, Any]:
    """The values of a list's conditions by name (`membership_id`: a volunteer's own list)."""
    params: dict[str, Any] = {"association_id": association_id}
    for field in _FILTER_FIELDS:
        value = getattr(filters, field)
        if value is not None:
            params[field] = value
    if membership_id is not None:
        params["own"] = membership_id
    return params


@dataclass(frozen=True)
class _Statements:
    pending_page: Any
    other_page: Any
    refused: Any
    grouped: Any


def _statements_for(where: list[Any]) -> _Statements:
    def newest(status: Any) -> Any:
        return (
            select(*_SHOWN)
            .where(*where, status)
            .order_by(col(Action.date).desc(), col(Action.id).desc())
            .offset(bindparam("offset"))
            .limit(bindparam("limit"))
        )

    count = select(func.count()).select_from(Action)
    return _Statements(
        pending_page=newest(Action.status == "pending"),
        other_page=newest(Action.status != "pending"),
        refused=count.where(*where, Action.status == "refused"),
        grouped=_GROUPED.where(*where).group_by(Action.status),
    )


@cache
def bound_conditions(names: frozenset[str]) -> tuple[Any, ...]:
    """The conditions of these names (see list_params), each with its named parameter."""
    return tuple(_CONDITIONS[name] for name in sorted(names))


@cache
def _statements(names: frozenset[str]) -> _Statements:
    return _statements_for(list(bound_conditions(names)))


def pending_first_page(
    session: Session, where: list[Any], page: int, pending: int, per_page: int = PER_PAGE
) -> tuple[list[ShownAction], bool]:
    """One page of the actions matching `where`, pending first then newest; and whether more follow.

    `pending` is how many of them wait for validation (from the list's totals). The
    actions come as ShownActions (the columns a list shows, named as an Action's
    attributes): they cost a fraction of ORM objects.
    """
    return _page(session, _statements_for(where), {}, page, pending, per_page)


def association_page(
    session: Session, params: dict[str, Any], page: int, pending: int, per_page: int = PER_PAGE
) -> tuple[list[ShownAction], bool]:
    """pending_first_page for an association's list (`params`: from list_params)."""
    return _page(session, _statements(frozenset(params)), params, page, pending, per_page)


def _page(
    session: Session,
    statements: _Statements,
    params: dict[str, Any],
    page: int,
    pending: int,
    per_page: int,
) -> tuple[list[ShownAction], bool]:
    offset, wanted = (page - 1) * per_page, per_page + 1
    connection = session.connection()
    items: list[ShownAction] = []
    if offset < pending:
        bounds = {"offset": offset, "limit": wanted}
        rows = connection.execute(statements.pending_page, {**params, **bounds}).all()
        items = [ShownAction._make(row) for row in rows]
    if len(items) < wanted:
        bounds = {"offset": max(0, offset - pending), "limit": wanted - len(items)}
        rows = connection.execute(statements.other_page, {**params, **bounds}).all()
        items += [ShownAction._make(row) for row in rows]
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
    params = list_params(association_id, filters, membership_id)
    statements = _statements(frozenset(params))
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
        return _grouped(session, statements.grouped, params)
    dimension, key_id = next(iter(keyed.items()), ("total", 0))
    counters = _rollup_counters(session, association_id, filters, dimension, key_id)
    if counters.get("actions_counted", 0) + counters.get("actions_pending", 0) < SMALL_LIST:
        return _grouped(session, statements.grouped, params)
    refused = 0
    if filters.status in {None, "refused"}:
        refused = int(session.connection().execute(statements.refused, params).scalar_one())
    return _masked(_from_counters(counters, refused), filters.status)


_GROUPED = select(
    Action.status,
    func.count(),
    func.coalesce(func.sum(Action.minutes), 0),
    func.coalesce(func.sum(Action.travel_minutes), 0),
    func.coalesce(func.sum(Action.distance_hundredths), 0),
)


def grouped_totals(session: Session, where: list[Any]) -> ListTotals:
    """Totals of the actions matching `where`, added up from the actions (one grouped query)."""
    return _grouped(session, _GROUPED.where(*where).group_by(Action.status), {})


def _grouped(session: Session, query: Any, params: dict[str, Any]) -> ListTotals:
    counters: Counters = {}
    refused = 0
    for status, number, minutes, travel, distance in (
        session.connection().execute(query, params).all()
    ):
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
    for kind, entry_id, name, _sort in session.connection().execute(_ENTRIES, params).all():
        if entry_id:
            found[kind].append((entry_id, name))
    return found


# Built once: a list page reads the members every time.
_MEMBERS = (
    select(Membership.id, Membership.label, User.display_name, User.username)
    .join(User, col(Membership.user_id) == col(User.id), isouter=True)
    .where(
        Membership.association_id == bindparam("association_id"),
        or_(Membership.status == "active", exists().where(Action.membership_id == Membership.id)),
    )
)


def member_choices(session: Session, association_id: int) -> list[tuple[int, str]]:
    """Every member who is active or has recorded an action, by name (a list's filter)."""
    rows = session.connection().execute(_MEMBERS, {"association_id": association_id}).all()
    names = [
        (member_id, display or username or label or _("Former member"))
        for member_id, label, display, username in rows
        if member_id is not None
    ]
    return sorted(names, key=lambda pair: pair[1].lower())


_ANY_ACTION = select(Action.id).where(Action.membership_id == bindparam("membership_id")).limit(1)


def has_actions(session: Session, membership_id: int | None) -> bool:
    """True when something was recorded for this membership (a list's "repeat" button)."""
    if membership_id is None:
        return False
    params = {"membership_id": membership_id}
    return session.connection().execute(_ANY_ACTION, params).first() is not None
