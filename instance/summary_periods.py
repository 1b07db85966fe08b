"""The sums of a period: whole months from the rollups, the partial months from actions.

A partial month at either end of a period is added up in SQL from the actions
of its days (one grouped statement per dimension), or, when it covers more than
half of the month, from the month's rollups minus the actions of the other days:
no edge reads more than half a month of actions. The counters come back shaped
like the rollups' (instance/summary_sums.py), by month or by key.
"""

from datetime import date
from typing import Any

from sqlalchemy import bindparam, literal
from sqlmodel import Session, func, select

from instance.periods import month_end, month_key
from instance.rollups import COUNTERS
from instance.summary_sums import (
    HOURS,
    ONE_DAY,
    Counters,
    Parts,
    add,
    counted,
    rollup_keys,
    rollup_months,
    rollup_volunteer_count,
    rollup_volunteer_keys,
    rollup_volunteers_by_month,
)
from schema.tables import Action

KEY_COLUMNS: dict[str, Any] = {
    "category": Action.category_id,
    "project": Action.project_id,
    "level": Action.level_id,
    "volunteer": Action.membership_id,
}

# Actions: the partial months, added up in SQL as the rollups would count them.

_TRAVEL = func.coalesce(Action.travel_minutes, 0)
_ACTION_SUMS = (
    Action.status,
    func.sum(Action.minutes),
    func.sum(_TRAVEL),
    func.count(),
    func.count(Action.rate_cents),
    func.coalesce(func.sum((Action.minutes * Action.rate_cents + 30) // 60), 0),
    func.coalesce(func.sum((_TRAVEL * Action.rate_cents + 30) // 60), 0),
    func.coalesce(func.sum(Action.distance_hundredths), 0),
)
_ACTION_RANGE = (
    Action.association_id == bindparam("association_id"),
    Action.date >= bindparam("start"),
    Action.date <= bindparam("end"),
    Action.status != "refused",
)
_ONE_MEMBER = Action.membership_id == bindparam("membership_id")


def _action_statement(key: str | None, member: bool) -> Any:
    column = KEY_COLUMNS[key] if key else literal(0)
    keyed = func.coalesce(column, 0).label("key")
    query = select(keyed, *_ACTION_SUMS).where(*_ACTION_RANGE)
    if member:
        query = query.where(_ONE_MEMBER)
    return query.group_by(keyed, Action.status)


_ACTION_STATEMENTS = {
    (key, member): _action_statement(key, member)
    for key in (None, *KEY_COLUMNS)
    for member in (False, True)
}


def _status_counters(status: str, numbers: list[int]) -> Counters:
    minutes, travel, count, valued, cents, travel_cents, distance = numbers
    if status == "validated":
        return {
            "minutes_counted": minutes,
            "travel_minutes_counted": travel,
            "actions_counted": count,
            "valued_actions": valued,
            "valued_cents": cents,
            "travel_valued_cents": travel_cents,
            "distance_hundredths": distance,
        }
    return {"minutes_pending": minutes, "travel_minutes_pending": travel, "actions_pending": count}


def action_sums(
    session: Session,
    association_id: int,
    start: date,
    end: date,
    *,
    key: str | None = None,
    membership_id: int | None = None,
) -> dict[int, Counters]:
    """Rollup-shaped counters from the actions between two days, by key (0 for the total)."""
    statement = _ACTION_STATEMENTS[(key, membership_id is not None)]
    params: dict[str, Any] = {"association_id": association_id, "start": start, "end": end}
    if membership_id is not None:
        params["membership_id"] = membership_id
    found: dict[int, Counters] = {}
    for key_id, status, *numbers in session.connection().execute(statement, params):
        add(
            found.setdefault(int(key_id), {}),
            _status_counters(status, [int(n or 0) for n in numbers]),
        )
    return found


def edge_sums(
    session: Session,
    association_id: int,
    start: date,
    end: date,
    *,
    key: str | None = None,
    membership_id: int | None = None,
) -> dict[int, Counters]:
    """Counters of some days of one month, by key (0 for the total), read the cheaper way.

    Up to half the month: added up from those days' actions. More: the month's
    rollups minus the actions of the other days, so that no edge reads more
    than half a month of actions.
    """
    first, last = start.replace(day=1), month_end(start)
    whole = None
    if ((end - start).days + 1) * 2 > (last - first).days + 1:
        whole = _month_rollup(session, association_id, month_key(start), key, membership_id)
    if whole is None:
        return action_sums(
            session, association_id, start, end, key=key, membership_id=membership_id
        )
    for other_start, other_end in ((first, start - ONE_DAY), (end + ONE_DAY, last)):
        if other_start <= other_end:
            other = action_sums(
                session,
                association_id,
                other_start,
                other_end,
                key=key,
                membership_id=membership_id,
            )
            for key_id, counters in other.items():
                row = whole.setdefault(key_id, {})
                for name, value in counters.items():
                    row[name] = row.get(name, 0) - value
    return whole


def _month_rollup(
    session: Session, association_id: int, month: str, key: str | None, membership_id: int | None
) -> dict[int, Counters] | None:
    """One month's rollup counters shaped like action_sums (None: not kept that way)."""
    parts = Parts(month, month, ())
    if key is None:
        return {0: rollup_months(session, association_id, parts, membership_id).get(month, {})}
    if membership_id is None:
        return rollup_keys(session, association_id, parts, key)
    return None


# The volunteers' hours of an edge: validated actions only, three sums (through the
# association/status/date index), much cheaper than every counter of every status.
_EDGE_HOURS = (
    select(
        Action.membership_id,
        func.sum(Action.minutes),
        func.sum(_TRAVEL),
        func.count(),
    )
    .where(
        Action.association_id == bindparam("association_id"),
        Action.status == "validated",
        Action.date >= bindparam("start"),
        Action.date <= bindparam("end"),
    )
    .group_by(Action.membership_id)
)


def _hours_sums(
    session: Session, association_id: int, start: date, end: date
) -> dict[int, Counters]:
    params = {"association_id": association_id, "start": start, "end": end}
    return {
        int(key): dict(zip(HOURS, (int(n or 0) for n in numbers), strict=True))
        for key, *numbers in session.connection().execute(_EDGE_HOURS, params)
    }


def edge_volunteer_hours(
    session: Session, association_id: int, start: date, end: date
) -> dict[int, Counters]:
    """Each volunteer's counted hours and actions on some days of one month (HOURS counters).

    Read like edge_sums: from those days' actions up to half the month, else from
    the month's rollups minus the actions of the other days.
    """
    first, last = start.replace(day=1), month_end(start)
    if ((end - start).days + 1) * 2 <= (last - first).days + 1:
        return _hours_sums(session, association_id, start, end)
    parts = Parts(month_key(start), month_key(start), ())
    whole = rollup_keys(session, association_id, parts, "volunteer", HOURS)
    for other_start, other_end in ((first, start - ONE_DAY), (end + ONE_DAY, last)):
        if other_start <= other_end:
            for key_id, counters in _hours_sums(
                session, association_id, other_start, other_end
            ).items():
                row = whole.setdefault(key_id, {})
                for name, value in counters.items():
                    row[name] = row.get(name, 0) - value
    return whole


# A whole period: whole months and edges added together.


def _edge_months(
    session: Session, association_id: int, parts: Parts, membership_id: int | None
) -> dict[str, Counters]:
    found: dict[str, Counters] = {}
    for start, end in parts.edges:
        sums = edge_sums(session, association_id, start, end, membership_id=membership_id)
        found[month_key(start)] = sums.get(0, {})
    return found


def period_months(
    session: Session, association_id: int, parts: Parts, membership_id: int | None
) -> dict[str, Counters]:
    """Counters by month over the period: whole months from rollups, edges from actions."""
    months = rollup_months(session, association_id, parts, membership_id)
    months.update(_edge_months(session, association_id, parts, membership_id))
    return months


def period_keys(
    session: Session,
    association_id: int,
    parts: Parts,
    dimension: str,
    names: tuple[str, ...] = COUNTERS,
) -> dict[int, Counters]:
    """Counters by key of a dimension over the period (an association's, from rollups + edges)."""
    found = rollup_keys(session, association_id, parts, dimension, names)
    for start, end in parts.edges:
        edge = edge_sums(session, association_id, start, end, key=dimension)
        for key, counters in edge.items():
            add(found.setdefault(key, {}), {name: counters.get(name, 0) for name in names})
    return found


def period_volunteer_count(session: Session, association_id: int, parts: Parts) -> int:
    """The distinct volunteers with counted actions over the period."""
    if not parts.edges:
        return rollup_volunteer_count(session, association_id, parts)
    found = rollup_volunteer_keys(session, association_id, parts)
    for start, end in parts.edges:
        found |= _edge_volunteers(session, association_id, start, end)
    return len(found)


def period_volunteers_by_month(
    session: Session, association_id: int, parts: Parts
) -> dict[str, int]:
    """The number of volunteers with counted actions, by month."""
    found = rollup_volunteers_by_month(session, association_id, parts)
    for start, end in parts.edges:
        found[month_key(start)] = len(_edge_volunteers(session, association_id, start, end))
    return found


def _edge_volunteers(session: Session, association_id: int, start: date, end: date) -> set[int]:
    """The volunteers with counted actions on some days of one month."""
    found = edge_sums(session, association_id, start, end, key="volunteer")
    return {key for key, row in found.items() if counted(row)}
