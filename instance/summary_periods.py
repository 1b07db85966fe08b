"""The sums of a period: whole months from the monthly rollups, partial months from day rows.

A partial month at either end of a period is added up from the day rows of its
days (instance/rollups.py DAY_DIMENSIONS, kept in the same write as the monthly
ones), so that no sum reads actions whatever their number; one member's groups
by key are the exception, added up from that member's actions. The counters come
back shaped like the rollups' (instance/summary_sums.py), by month or by key.
"""

from datetime import date
from typing import Any

from sqlalchemy import bindparam, literal
from sqlmodel import Session, func, select

from instance.periods import month_key
from instance.rollups import COUNTERS, DAY_DIMENSIONS
from instance.summary_sums import (
    HOURS,
    Counters,
    Parts,
    add,
    days,
    rollup_keys,
    rollup_months,
    rollup_sum,
    rollup_total,
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
    """Counters of some days of one month, by key (0 for the total), from the day rows.

    The total is its days' categories added up (every action has one category);
    one member's total is their day_volunteer rows. One member's groups by key
    have no day rows: they are added up from the member's actions.
    """
    if membership_id is not None and key is not None:
        return action_sums(
            session, association_id, start, end, key=key, membership_id=membership_id
        )
    parts = days(start, end)
    if membership_id is not None:
        return {0: rollup_total(session, association_id, parts, "day_volunteer", membership_id)}
    if key is None:
        return {0: rollup_sum(session, association_id, parts, "day_category")}
    return rollup_keys(session, association_id, parts, DAY_DIMENSIONS[key])


def edge_volunteer_hours(
    session: Session, association_id: int, start: date, end: date
) -> dict[int, Counters]:
    """Each volunteer's counted hours and actions on some days of one month (HOURS counters)."""
    return rollup_keys(session, association_id, days(start, end), "day_volunteer", HOURS)


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
    return rollup_volunteer_keys(session, association_id, days(start, end), "day_volunteer")
