"""The rows of an actions export, streamed: one query, names looked up, not joined.

Actions are read in batches from one streaming query (``yield_per``: a server-side
cursor on PostgreSQL, stepped rows on SQLite) over the actions' own columns; the
names they point to (volunteers, categories, projects, levels, creators) are read
once up front or when first met, and kept, so memory grows with the names, never
with the actions. Rows are tuples in the order of ``instance.exports.ACTION_COLUMNS``
with raw values (minutes, cents, hundredths of a km).
"""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from sqlalchemy import String, type_coerce
from sqlmodel import Session, col, select

from instance.action_rules import ActionFilters
from instance.valuation import value_cents
from schema.tables import Action, Association, Category, Level, Membership, Project, User

BATCH = 2000


@dataclass(frozen=True)
class Selection:
    """Which actions an export holds; built only after the caller's rights were checked."""

    association_ids: tuple[int, ...]
    filters: ActionFilters = ActionFilters()
    membership_ids: tuple[int, ...] | None = None
    former_member: str = "Former member"
    names: Mapping[str, str] = field(default_factory=dict)  # what the filter ids name


def where(query: Any, selection: Selection) -> Any:
    query = query.where(col(Action.association_id).in_(selection.association_ids))
    if selection.membership_ids is not None:
        query = query.where(col(Action.membership_id).in_(selection.membership_ids))
    filters = selection.filters
    for name in ("category_id", "project_id", "level_id", "status"):
        value = getattr(filters, name)
        if value is not None:
            query = query.where(getattr(Action, name) == value)
    if filters.volunteer_id is not None:
        query = query.where(Action.membership_id == filters.volunteer_id)
    if filters.start is not None:
        query = query.where(Action.date >= filters.start)
    if filters.end is not None:
        query = query.where(Action.date <= filters.end)
    return query


_ACTION_COLUMNS = (
    Action.id,
    # Dates and the creation time read as text: their type's own processing costs more
    # than the rest of a row on SQLite (parsed below in one step; psycopg gives dates).
    type_coerce(Action.date, String),
    type_coerce(Action.end_date, String),
    Action.membership_id,
    Action.association_id,
    Action.title,
    Action.description,
    Action.category_id,
    Action.project_id,
    Action.level_id,
    Action.minutes,
    Action.travel_minutes,
    Action.distance_hundredths,
    Action.status,
    Action.rate_cents,
    Action.created_by_id,
    type_coerce(Action.created_at, String),
)


def _action_query(selection: Selection) -> Any:
    """The selected actions' own columns, oldest first: names come from _Names, not joins."""
    query = select(*_ACTION_COLUMNS)
    return where(query, selection).order_by(col(Action.date), col(Action.id))


def _utc(value: datetime | str | None) -> datetime | None:
    """An aware datetime to the second, from what the driver gives for created_at."""
    # SQLite gives 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC, parsed here in one step;
    # psycopg gives aware datetimes whatever the column type says.
    if isinstance(value, str):
        return datetime.fromisoformat(value[:19] + "+00:00")
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.replace(microsecond=0) if value is not None else None


_NAME_QUERIES: dict[str, Any] = {
    "category": (Category, select(Category.id, Category.name)),
    "project": (Project, select(Project.id, Project.name)),
    "level": (Level, select(Level.id, Level.name)),
}
_MEMBER_NAMES = select(Membership.id, Membership.label, User.display_name, User.username).join(
    User, col(User.id) == col(Membership.user_id), isouter=True
)


class _Lookup(dict[Any, Any]):
    """Values by key, read from the database the first time a key is met (None: none)."""

    def __init__(self, read: Any, known: Iterable[tuple[Any, Any]] = ()) -> None:
        super().__init__(known)
        self[None] = None
        self._read = read

    def __missing__(self, key: Any) -> Any:
        self[key] = value = self._read(key)
        return value


def _member_name(row: Sequence[Any] | None, former: str) -> str:
    if row is None:
        return former
    _id, label, display, username = row
    return display or username or label or former


def _lookups(session: Session, selection: Selection) -> dict[str, _Lookup]:
    """The names an export shows, read once (a few small queries) instead of joined per row.

    What the selection's associations hold is read up front; anything else an
    action points to (a creator, an entry met for the first time) is read when
    first met and kept: memory grows with the names, never with the actions.
    """
    ids = list(selection.association_ids)
    former = selection.former_member

    def first(query: Any) -> Any:
        return session.exec(query).first()

    found: dict[str, _Lookup] = {}
    for kind, (model, query) in _NAME_QUERIES.items():
        rows = session.exec(query.where(col(model.association_id).in_(ids))).all()
        found[kind] = _Lookup(
            lambda key, m=model, q=query: (first(q.where(col(m.id) == key)) or (0, None))[1],
            rows,
        )
    members = _MEMBER_NAMES.where(col(Membership.association_id).in_(ids))
    if selection.membership_ids is not None:
        members = members.where(col(Membership.id).in_(selection.membership_ids))
    found["member"] = _Lookup(
        lambda key: _member_name(first(_MEMBER_NAMES.where(col(Membership.id) == key)), former),
        ((row[0], _member_name(row, former)) for row in session.exec(members)),
    )
    places = select(Association.id, Association.name, Association.travel_time_policy)
    found["association"] = _Lookup(
        lambda key: (None, None),
        ((i, (n, p)) for i, n, p in session.exec(places.where(col(Association.id).in_(ids)))),
    )
    found["user"] = _Lookup(lambda key: first(select(User.username).where(col(User.id) == key)))
    found["day"] = _Lookup(lambda key: date.fromisoformat(key) if isinstance(key, str) else key)
    return found


def _rows(lookups: Mapping[str, _Lookup], zone: tzinfo) -> Any:
    """The function turning a row of _ACTION_COLUMNS into a row of ACTION_COLUMNS."""
    days, members, users = lookups["day"], lookups["member"], lookups["user"]
    categories, projects, levels = lookups["category"], lookups["project"], lookups["level"]
    associations = lookups["association"]

    def row(found: Sequence[Any]) -> tuple[Any, ...]:
        (action_id, day, end_day, member, association_id, title, description) = found[:7]
        category, project, level, minutes, travel, distance, status, rate = found[7:15]
        association, policy = associations[association_id]
        valued = None
        if rate is not None:
            valued = value_cents(minutes, rate)
            if travel and policy == "counted":
                valued += value_cents(travel, rate)
        stamp = _utc(found[16])
        return (
            action_id,
            days[day],
            days[end_day],
            members[member],
            association,
            title,
            description,
            categories[category],
            projects[project],
            levels[level],
            minutes,
            minutes,
            travel,
            distance,
            status,
            valued,
            rate,
            users[found[15]],
            stamp.astimezone(zone) if stamp is not None else None,
        )

    return row


def action_batches(
    session: Session, selection: Selection, *, zone: tzinfo, batch: int = BATCH
) -> Iterator[list[tuple[Any, ...]]]:
    """The selected actions, oldest first, in lists of at most ``batch`` rows.

    One query streams them (``yield_per``: stepped rows on SQLite, a server-side
    cursor on PostgreSQL), so only one batch is ever held in memory.
    """
    if not selection.association_ids:
        return
    row = _rows(_lookups(session, selection), zone)
    connection = session.connection().execution_options(yield_per=batch)
    for part in connection.execute(_action_query(selection)).partitions():
        yield [row(found) for found in part]
