"""Monthly running totals of actions, kept exact in the same transaction as each write.

Every change to an action is a delta: the old state's contribution is taken
away and the new state's is added, in one upsert statement. Statistics then read
a handful of rollup rows whatever the number of actions. ``recount`` rebuilds
the same figures from the actions themselves (tests and repairs).
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import bindparam, exists, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, delete, func, select

from instance import report_changes, summary_changes
from instance.periods import month_key
from instance.valuation import rates_of, value_cents
from schema.driver_statements import DriverStatement
from schema.tables import Action, Association, Follow, Membership, NetworkLink, Rollup

COUNTERS = (
    "minutes_counted",
    "minutes_pending",
    "travel_minutes_counted",
    "travel_minutes_pending",
    "actions_counted",
    "actions_pending",
    "valued_actions",
    "valued_cents",
    "travel_valued_cents",
    "distance_hundredths",
)
KEY_COLUMNS = ("association_id", "dimension", "month", "key_id")

RowKey = tuple[str, str, int]  # (month, dimension, key_id)
Totals = dict[RowKey, dict[str, int]]


@dataclass(frozen=True)
class ActionState:
    """What of an action counts in the rollups, at one moment."""

    association_id: int
    month: str
    membership_id: int
    category_id: int
    project_id: int | None
    level_id: int | None
    status: str
    minutes: int
    travel_minutes: int
    distance_hundredths: int
    rate_cents: int | None
    day: date  # the action's date: its day rows (DAY_DIMENSIONS)


def state_of(action: Action) -> ActionState:
    """The rollup-relevant state of an action row."""
    return ActionState(
        association_id=action.association_id,
        month=month_key(action.date),
        membership_id=action.membership_id,
        category_id=action.category_id,
        project_id=action.project_id,
        level_id=action.level_id,
        status=action.status,
        minutes=action.minutes,
        travel_minutes=action.travel_minutes or 0,
        distance_hundredths=action.distance_hundredths or 0,
        rate_cents=action.rate_cents,
        day=action.date,
    )


def counters_of(state: ActionState) -> dict[str, int]:
    """The counters one action adds to every rollup row it belongs to."""
    if state.status == "validated":
        return {
            "minutes_counted": state.minutes,
            "travel_minutes_counted": state.travel_minutes,
            "actions_counted": 1,
            "valued_actions": 1 if state.rate_cents is not None else 0,
            "valued_cents": value_cents(state.minutes, state.rate_cents),
            "travel_valued_cents": value_cents(state.travel_minutes, state.rate_cents),
            "distance_hundredths": state.distance_hundredths,
        }
    if state.status == "pending":
        return {
            "minutes_pending": state.minutes,
            "travel_minutes_pending": state.travel_minutes,
            "actions_pending": 1,
        }
    return {}


#: Day rows: the same counters for one day (their `month` column holds the ISO day), so
#: that the partly covered months at the ends of a period are read from at most a month
#: of day rows instead of their actions. No day total: the day's categories add up to it.
DAY_DIMENSIONS = {name: f"day_{name}" for name in ("category", "project", "level", "volunteer")}
#: Year rows (`month` holds the year) of every dimension but the total: the whole years
#: of a period are read from them, so a table of 200 volunteers over three whole years
#: reads 600 rows instead of 7,200 monthly ones, the categories 36 instead of 432.
YEAR_DIMENSIONS = {name: f"year_{name}" for name in ("category", "project", "level", "volunteer")}
YEAR_VOLUNTEER = YEAR_DIMENSIONS["volunteer"]


def keys_of(state: ActionState) -> list[RowKey]:
    """The rollup rows an action counts in: its month's, its day's and its year's."""
    day, year = state.day.isoformat(), state.month[:4]
    return [
        (state.month, "total", 0),
        (state.month, "category", state.category_id),
        (state.month, "project", state.project_id or 0),
        (state.month, "level", state.level_id or 0),
        (state.month, "volunteer", state.membership_id),
        (day, "day_category", state.category_id),
        (day, "day_project", state.project_id or 0),
        (day, "day_level", state.level_id or 0),
        (day, "day_volunteer", state.membership_id),
        (year, "year_category", state.category_id),
        (year, "year_project", state.project_id or 0),
        (year, "year_level", state.level_id or 0),
        (year, YEAR_VOLUNTEER, state.membership_id),
    ]


def add_state(totals: Totals, state: ActionState, sign: int = 1) -> None:
    """Add (or with sign=-1, take away) an action's contribution to totals."""
    counters = counters_of(state)
    if not counters:
        return
    for key in keys_of(state):
        row = totals[key]
        for name, value in counters.items():
            row[name] = row.get(name, 0) + sign * value


def change_delta(old: ActionState | None, new: ActionState | None) -> Totals:
    """What the rollups must gain when an action goes from old to new (None: absent)."""
    totals: Totals = defaultdict(dict)
    if old is not None:
        add_state(totals, old, -1)
    if new is not None:
        add_state(totals, new, 1)
    return prune(totals)


def prune(totals: Mapping[RowKey, Mapping[str, int]]) -> Totals:
    """Drop the counters that are zero, and the rows left empty."""
    found: Totals = {}
    for key, row in totals.items():
        kept = {name: value for name, value in row.items() if value}
        if kept:
            found[key] = kept
    return found


def _upsert(dialect: Any) -> Any:
    table = Rollup.__table__  # type: ignore[attr-defined]
    statement = dialect.insert(table)
    return statement.on_conflict_do_update(
        index_elements=list(KEY_COLUMNS),
        set_={name: table.c[name] + statement.excluded[name] for name in COUNTERS},
    )


# One statement per dialect, built once and run with one parameter set per row.
# Run on the driver's cursor: every recording runs it (see schema/driver_statements.py).
_UPSERTS = {
    "sqlite": DriverStatement(_upsert(sqlite)),
    "postgresql": DriverStatement(_upsert(postgresql)),
}


def apply_delta(
    session: Session, association_id: int, delta: Mapping[RowKey, Mapping[str, int]]
) -> None:
    """Add a delta to the association's rollup rows (one upsert per row, in key order)."""
    if not delta:
        return
    rows = [
        {
            "association_id": association_id,
            "month": month,
            "dimension": dimension,
            "key_id": key_id,
            **{name: counters.get(name, 0) for name in COUNTERS},
        }
        for (month, dimension, key_id), counters in sorted(delta.items())
    ]
    connection = session.connection()
    _UPSERTS[connection.dialect.name].run_many(connection, rows)


LOCK_SPACE = 7301  # namespace of the advisory locks below (PostgreSQL)
_GUARDS = {
    True: text("SELECT pg_advisory_xact_lock(:space, :key)"),
    False: text("SELECT pg_advisory_xact_lock_shared(:space, :key)"),
}


def guard(session: Session, association_id: int, *, exclusive: bool = False) -> None:
    """Order an association's writers before any row lock (PostgreSQL only).

    Action writes take the lock shared (they run side by side); rate changes take it
    alone, so revaluing and recording never wait on each other in a circle. SQLite
    needs nothing: its writers already run one at a time.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_GUARDS[exclusive], {"space": LOCK_SPACE, "key": association_id})


# Who may want to hear of a change, in one statement: members with a link from another
# instance (hours summaries) and a network the association belongs to (reports). Both
# are looser than the checks of summary_changes and report_changes (any state), which
# run only when this says yes: most changes, of people and associations that are in
# neither, cost one cheap statement instead of two joined queries.
_LISTENERS = select(
    exists(
        select(Follow.id)
        .join(Membership, col(Membership.user_id) == col(Follow.local_id))
        .where(
            col(Membership.id).in_(bindparam("membership_ids", expanding=True)),
            Follow.direction == "in",
            Follow.local_kind == "user",
        )
    ),
    exists(select(NetworkLink.id).where(NetworkLink.association_id == bindparam("association_id"))),
)


def _note_changes(
    session: Session,
    association_id: int,
    states: list[ActionState],
    listeners: tuple[bool, bool] | None = None,
) -> None:
    """Note the months to send again (hours summaries, network reports), when anyone listens.

    `listeners`: whether members are linked and the association networked, when the
    caller already read it in this transaction (the same question as _LISTENERS).
    """
    if not states:
        return
    if listeners is None:
        params = {
            "membership_ids": sorted({state.membership_id for state in states}),
            "association_id": association_id,
        }
        listeners = session.connection().execute(_LISTENERS, params).one()
    linked, networked = listeners
    if linked:
        summary_changes.mark(session, states)
    if networked:
        months = {state.month for state in states}
        report_changes.mark(session, association_id=association_id, months=months)


def record_change(
    session: Session,
    old: ActionState | None,
    new: ActionState | None,
    *,
    listeners: tuple[bool, bool] | None = None,
) -> None:
    """Keep the rollups exact after one action changed (created, edited, deleted...).

    `listeners`: see _note_changes (read in this transaction, for these states' members).
    """
    state = new or old
    if state is None:
        return
    apply_delta(session, state.association_id, change_delta(old, new))
    changed = [s for s in (old, new) if s is not None]
    _note_changes(session, state.association_id, changed, listeners)


def record_changes(
    session: Session,
    association_id: int,
    changes: Iterable[tuple[ActionState | None, ActionState | None]],
) -> None:
    """Keep the rollups exact after several actions of one association changed."""
    totals: Totals = defaultdict(dict)
    changed: list[ActionState] = []
    for old, new in changes:
        if old is not None:
            add_state(totals, old, -1)
            changed.append(old)
        if new is not None:
            add_state(totals, new, 1)
            changed.append(new)
    apply_delta(session, association_id, prune(totals))
    _note_changes(session, association_id, changed)


def recount(session: Session, association_id: int) -> Totals:
    """The rollups recomputed from the association's actions (non-zero counters only)."""
    totals: Totals = defaultdict(dict)
    for action in session.exec(select(Action).where(Action.association_id == association_id)):
        add_state(totals, state_of(action))
    return prune(totals)


def stored(session: Session, association_id: int) -> Totals:
    """The association's rollup rows as kept (non-zero counters only)."""
    totals: Totals = {}
    for row in session.exec(select(Rollup).where(Rollup.association_id == association_id)):
        totals[(row.month, row.dimension, row.key_id)] = {
            name: getattr(row, name) for name in COUNTERS
        }
    return prune(totals)


def rebuild(session: Session, association_id: int) -> None:
    """Throw away the association's rollups and recompute them from its actions (in SQL)."""
    session.exec(delete(Rollup).where(Rollup.association_id == association_id))  # type: ignore[arg-type]
    apply_delta(session, association_id, raw_totals(session, association_id, date.min, date.max))


def _aggregate_counters(status: str, sums: Mapping[str, int]) -> dict[str, int]:
    if status == "validated":
        return {
            "minutes_counted": sums["minutes"],
            "travel_minutes_counted": sums["travel"],
            "actions_counted": sums["count"],
            "valued_actions": sums["valued"],
            "valued_cents": sums["valued_cents"],
            "travel_valued_cents": sums["travel_valued_cents"],
            "distance_hundredths": sums["distance"],
        }
    if status == "pending":
        return {
            "minutes_pending": sums["minutes"],
            "travel_minutes_pending": sums["travel"],
            "actions_pending": sums["count"],
        }
    return {}


def raw_totals(
    session: Session,
    association_id: int,
    start: date,
    end: date,
    *,
    membership_id: int | None = None,
) -> Totals:
    """Rollup-shaped totals computed from the actions between two days (inclusive)."""
    travel = func.coalesce(Action.travel_minutes, 0)
    groups = (
        Action.date,
        Action.status,
        Action.category_id,
        Action.project_id,
        Action.level_id,
        Action.membership_id,
    )
    query = select(
        *groups,
        func.sum(Action.minutes),
        func.sum(travel),
        func.count(),
        func.count(Action.rate_cents),
        func.coalesce(func.sum((Action.minutes * Action.rate_cents + 30) // 60), 0),
        func.coalesce(func.sum((travel * Action.rate_cents + 30) // 60), 0),
        func.coalesce(func.sum(Action.distance_hundredths), 0),
    ).where(Action.association_id == association_id, Action.date >= start, Action.date <= end)
    if membership_id is not None:
        query = query.where(Action.membership_id == membership_id)
    totals: Totals = defaultdict(dict)
    for day, status, category, project, level, member, *numbers in session.exec(
        query.group_by(*groups)
    ):
        sums = dict(zip(SUM_NAMES, (int(n or 0) for n in numbers), strict=True))
        state = ActionState(
            association_id,
            month_key(day),
            member,
            category,
            project,
            level,
            status,
            0,
            0,
            0,
            None,
            day,
        )
        counters = _aggregate_counters(status, sums)
        for key in keys_of(state):
            row = totals[key]
            for name, value in counters.items():
                row[name] = row.get(name, 0) + value
    return prune(totals)


SUM_NAMES = (
    "minutes",
    "travel",
    "count",
    "valued",
    "valued_cents",
    "travel_valued_cents",
    "distance",
)


def _in_force(rates: list[Any], day: date) -> int | None:
    found = None
    for rate in rates:  # oldest first
        if rate.effective_from > day:
            break
        found = rate.hourly_rate_cents
    return found


def revalue_association(session: Session, *, association: Association) -> int:
    """Value every action again at the rates in force on its date; returns how many changed.

    Level rates revalue what they cover by themselves; call this after the
    association's default rate changed, to apply it to past actions too.
    """
    assert association.id is not None
    guard(session, association.id, exclusive=True)
    query = (
        select(Action)
        .where(Action.association_id == association.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    found = list(session.exec(query).all())
    rates = rates_of(session, sorted({a.level_id for a in found if a.level_id is not None}))
    changes = []
    for action in found:
        level_rate = _in_force(rates[action.level_id], action.date) if action.level_id else None
        expected = level_rate if level_rate is not None else association.default_hourly_rate_cents
        if action.rate_cents != expected:
            old = state_of(action)
            action.rate_cents = expected
            session.add(action)
            changes.append((old, state_of(action)))
    session.flush()
    record_changes(session, association.id, changes)
    return len(changes)
