"""The rollup side of every summary: sums over runs of whole months, by month or by key.

A period is cut (`split`) into a run of whole months, read here from the monthly
rollups with statements built once, and at most two partial months at its ends,
which instance/summary_periods.py adds up from the actions. Figures are rollup
counters, keyed by month (the totals) or by key id (a category, project, level
or membership).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import bindparam, literal_column
from sqlmodel import Session, col, func, select

from instance.periods import Period, month_end, month_key
from instance.rollups import COUNTERS, YEAR_DIMENSIONS
from schema.tables import Membership, Rollup, User

Counters = dict[str, int]
ONE_DAY = timedelta(days=1)
#: The counters a table of hours and actions needs (the volunteers of a statistics page).
HOURS = ("minutes_counted", "travel_minutes_counted", "actions_counted")  # in this order


@dataclass(frozen=True)
class Parts:
    """A period cut into whole months (rollups) and partial edges (actions)."""

    first_month: str | None
    last_month: str | None
    edges: tuple[tuple[date, date], ...]


def days(start: date, end: date) -> Parts:
    """Some days of one month as the range of the day rows (DAY_DIMENSIONS) to read."""
    return Parts(start.isoformat(), end.isoformat(), ())


def split(period: Period) -> Parts:
    """Cut a period into its run of whole months and the partial months around it."""
    start, end = period.start, period.end
    edges: list[tuple[date, date]] = []
    if start > end:
        return Parts(None, None, ())
    if start.day != 1:
        edge_end = min(month_end(start), end)
        edges.append((start, edge_end))
        start = edge_end + timedelta(days=1)
    if start <= end and end != month_end(end):
        edge_start = max(end.replace(day=1), start)
        edges.append((edge_start, end))
        end = edge_start - timedelta(days=1)
    if start > end:
        return Parts(None, None, tuple(edges))
    return Parts(month_key(start), month_key(end), tuple(edges))


def add(target: Counters, source: Mapping[str, int]) -> None:
    """Add counters into target."""
    for name, value in source.items():
        target[name] = target.get(name, 0) + value


# Rollups: statements built once, run with new parameters on every summary.

_IN_RANGE = (
    Rollup.association_id == bindparam("association_id"),
    Rollup.dimension == bindparam("dimension"),
    Rollup.month >= bindparam("first_month"),
    Rollup.month <= bindparam("last_month"),
)
_ONE_KEY = Rollup.key_id == bindparam("key_id")


def _sums(names: Iterable[str]) -> list[Any]:
    return [func.sum(getattr(Rollup, name)) for name in names]


_BY_MONTH = select(Rollup.month, *_sums(COUNTERS)).where(*_IN_RANGE).group_by(Rollup.month)
_BY_MONTH_ONE = (
    select(Rollup.month, *_sums(COUNTERS)).where(*_IN_RANGE, _ONE_KEY).group_by(Rollup.month)
)
_BY_KEY = {
    names: select(Rollup.key_id, *_sums(names)).where(*_IN_RANGE).group_by(Rollup.key_id)
    for names in (COUNTERS, HOURS, ("actions_counted",))
}
# Day rows by key: grouped on key_id + 0 so that the planner always reads the day range
# from the primary key (association, dimension, month, ...) and sorts a month of rows at
# most, never walks every day of the dimension through an index in key order (SQLite
# without statistics could prefer that: it was ~7x slower at 100,000 actions).
_DAY_KEY = (Rollup.key_id + literal_column("0")).label("key_id")
_BY_DAY_KEY = {
    names: select(_DAY_KEY, *_sums(names)).where(*_IN_RANGE).group_by(_DAY_KEY)
    for names in (COUNTERS, HOURS, ("actions_counted",))
}
# Several dimensions at once (a statistics page's categories, projects and levels).
_BY_DIMENSION_KEY = (
    select(Rollup.dimension, _DAY_KEY, *_sums(COUNTERS))
    .where(
        Rollup.association_id == bindparam("association_id"),
        col(Rollup.dimension).in_(bindparam("dimensions", expanding=True)),
        Rollup.month >= bindparam("first_month"),
        Rollup.month <= bindparam("last_month"),
    )
    .group_by(Rollup.dimension, _DAY_KEY)
)
_ONE_KEY_TOTAL = select(*_sums(COUNTERS)).where(*_IN_RANGE, _ONE_KEY)
_ALL_KEYS_TOTAL = select(*_sums(COUNTERS)).where(*_IN_RANGE)
# The volunteers with counted actions: keys whose counted actions add up to more than 0
# (never negative), rather than count(DISTINCT) (the rows of a range come from the
# primary key: 600 year rows and a few hundred monthly ones for three years).
_DISTINCT_VOLUNTEERS = select(func.count()).select_from(
    select(Rollup.key_id)
    .where(*_IN_RANGE)
    .group_by(Rollup.key_id)
    .having(func.sum(Rollup.actions_counted) > 0)
    .subquery()
)
_VOLUNTEERS_BY_MONTH = (
    select(Rollup.month, func.count())
    .where(*_IN_RANGE, Rollup.actions_counted > 0)
    .group_by(Rollup.month)
)


def _params(association_id: int, parts: Parts, dimension: str, **more: Any) -> dict[str, Any]:
    return {
        "association_id": association_id,
        "dimension": dimension,
        "first_month": parts.first_month,
        "last_month": parts.last_month,
        **more,
    }


def _result(session: Session, statement: Any, params: dict[str, Any]) -> Any:
    return session.connection().execute(statement, params)


def _rows(session: Session, statement: Any, params: dict[str, Any]) -> list[Any]:
    # All rows at once: fetching a few hundred one by one costs half a millisecond more.
    return list(_result(session, statement, params).all())


def _counters(names: tuple[str, ...], rows: Any) -> dict[Any, Counters]:
    return {
        label: dict(zip(names, (int(value or 0) for value in sums), strict=True))
        for label, *sums in rows
    }


def rollup_months(
    session: Session, association_id: int, parts: Parts, membership_id: int | None = None
) -> dict[str, Counters]:
    """Counters by whole month: the association's totals, or one membership's."""
    if parts.first_month is None:
        return {}
    if membership_id is None:
        params = _params(association_id, parts, "total")
        return _counters(COUNTERS, _rows(session, _BY_MONTH, params))
    params = _params(association_id, parts, "volunteer", key_id=membership_id)
    return _counters(COUNTERS, _rows(session, _BY_MONTH_ONE, params))


def rollup_keys(
    session: Session,
    association_id: int,
    parts: Parts,
    dimension: str,
    names: tuple[str, ...] = COUNTERS,
) -> dict[int, Counters]:
    """Counters by key of one dimension over the whole months (names: which counters)."""
    found: dict[int, Counters] = {}
    for name, piece in year_pieces(parts, dimension):
        params = _params(association_id, piece, name)
        statements = _BY_DAY_KEY if name.startswith("day_") else _BY_KEY
        _add_rows(found, _counters(names, _rows(session, statements[names], params)))
    return found


def _add_rows(found: dict[Any, Counters], rows: Mapping[Any, Counters]) -> None:
    for key, counters in rows.items():
        if key in found:
            add(found[key], counters)
        else:
            found[key] = counters


def rollup_dimension_keys(
    session: Session, association_id: int, parts: Parts, dimensions: tuple[str, ...]
) -> dict[str, dict[int, Counters]]:
    """Counters by key of several dimensions over the range, one statement a piece.

    Dimensions with year rows are read like ``year_pieces`` reads one.
    """
    found: dict[str, dict[int, Counters]] = {dimension: {} for dimension in dimensions}
    yearly = all(dimension in YEAR_DIMENSIONS for dimension in dimensions)
    for by_year, piece in whole_years(parts) if yearly else [(False, parts)]:
        names = {YEAR_DIMENSIONS[d] if by_year else d: d for d in dimensions}
        params = {
            "association_id": association_id,
            "dimensions": list(names),
            "first_month": piece.first_month,
            "last_month": piece.last_month,
        }
        for name, key_id, *sums in _rows(session, _BY_DIMENSION_KEY, params):
            counters = dict(zip(COUNTERS, (int(value or 0) for value in sums), strict=True))
            _add_rows(found[names[name]], {key_id: counters})
    return found


_HOURS_BY_KEY = (
    select(Rollup.key_id.label("key_id"), *(func.sum(getattr(Rollup, n)).label(n) for n in HOURS))
    .where(*_IN_RANGE)
    .group_by(Rollup.key_id)
    .subquery()
)
# The volunteers' hours with what names them, joined after grouping (one row per volunteer).
_NAMED_HOURS = (
    select(_HOURS_BY_KEY, Membership.label, User.display_name, User.username)
    .select_from(_HOURS_BY_KEY)
    .join(Membership, col(Membership.id) == _HOURS_BY_KEY.c.key_id, isouter=True)
    .join(User, col(User.id) == col(Membership.user_id), isouter=True)
)
NameParts = tuple[str | None, str | None, str | None]  # access-link label, display name, username


def whole_years(parts: Parts) -> list[tuple[bool, Parts]]:
    """The whole months of a period as (by year, range): its whole years (`month` ranges
    of year rows: "2024" to "2025"), then the months before and after them."""
    first, last = parts.first_month, parts.last_month
    if first is None or last is None:
        return []
    first_year = int(first[:4]) + (first[5:] != "01")
    last_year = int(last[:4]) - (last[5:] != "12")
    if first_year > last_year:
        return [(False, parts)]
    pieces = [(True, Parts(str(first_year), str(last_year), ()))]
    if first < f"{first_year}-01":
        pieces.append((False, Parts(first, f"{first_year - 1}-12", ())))
    if last > f"{last_year}-12":
        pieces.append((False, Parts(f"{last_year + 1}-01", last, ())))
    return pieces


def year_pieces(parts: Parts, dimension: str) -> list[tuple[str, Parts]]:
    """The whole months of a period as (dimension, range) to read: for a dimension with
    year rows (YEAR_DIMENSIONS), its whole years from them and the other months from the
    monthly rows; any other dimension (the total, day rows) as it is."""
    if parts.first_month is None:
        return []
    year = YEAR_DIMENSIONS.get(dimension)
    if year is None:
        return [(dimension, parts)]
    return [(year if by_year else dimension, piece) for by_year, piece in whole_years(parts)]


def volunteer_pieces(parts: Parts) -> list[tuple[str, Parts]]:
    """The volunteers' pieces of a period (see ``year_pieces``)."""
    return year_pieces(parts, "volunteer")


def rollup_volunteer_hours(
    session: Session, association_id: int, parts: Parts
) -> tuple[dict[int, Counters], dict[int, NameParts]]:
    """Hours and actions of each volunteer over the whole months, and what names them."""
    counters: dict[int, Counters] = {}
    names: dict[int, NameParts] = {}
    for dimension, piece in volunteer_pieces(parts):
        rows = _rows(session, _NAMED_HOURS, _params(association_id, piece, dimension))
        for key_id, minutes, travel, count, label, display, username in rows:
            row = {
                "minutes_counted": int(minutes or 0),
                "travel_minutes_counted": int(travel or 0),
                "actions_counted": int(count or 0),
            }
            if key_id in counters:
                add(counters[key_id], row)
            else:
                counters[key_id] = row
            names[key_id] = (label, display, username)
    return counters, names


def rollup_total(
    session: Session, association_id: int, parts: Parts, dimension: str, key_id: int
) -> Counters:
    """The counters of one key of a dimension (0 for the total) over the whole months."""
    if parts.first_month is None:
        return {}
    params = _params(association_id, parts, dimension, key_id=key_id)
    sums = _result(session, _ONE_KEY_TOTAL, params).one()
    return {name: int(value or 0) for name, value in zip(COUNTERS, sums, strict=True)}


def rollup_sum(session: Session, association_id: int, parts: Parts, dimension: str) -> Counters:
    """The counters of every key of a dimension added up over the range."""
    if parts.first_month is None:
        return {}
    sums = _result(session, _ALL_KEYS_TOTAL, _params(association_id, parts, dimension)).one()
    return {name: int(value or 0) for name, value in zip(COUNTERS, sums, strict=True)}


def rollup_volunteer_count(session: Session, association_id: int, parts: Parts) -> int:
    """The distinct volunteers with counted actions over the whole months."""
    pieces = volunteer_pieces(parts)
    if len(pieces) != 1:
        return len(rollup_volunteer_keys(session, association_id, parts))
    dimension, piece = pieces[0]
    params = _params(association_id, piece, dimension)
    return int(_result(session, _DISTINCT_VOLUNTEERS, params).scalar_one())


def rollup_volunteer_keys(
    session: Session, association_id: int, parts: Parts, dimension: str = "volunteer"
) -> set[int]:
    """The volunteers with counted actions over the whole months (or days: day_volunteer)."""
    rows = rollup_keys(session, association_id, parts, dimension, ("actions_counted",))
    return {key for key, row in rows.items() if row["actions_counted"] > 0}


def rollup_volunteers_by_month(
    session: Session, association_id: int, parts: Parts
) -> dict[str, int]:
    """The number of volunteers with counted actions, by whole month."""
    if parts.first_month is None:
        return {}
    params = _params(association_id, parts, "volunteer")
    return {month: int(n) for month, n in _rows(session, _VOLUNTEERS_BY_MONTH, params)}


def counted(row: Mapping[str, int]) -> bool:
    """True when counters hold at least one counted (validated) action."""
    return row.get("actions_counted", 0) > 0
