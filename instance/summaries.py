"""Totals of volunteer time over a date range: for an association, a volunteer, a person.

Whole months are read from the rollups only; the days of a partly covered month
at either end of the range come from one grouped query over the actions. Only
validated actions count; pending ones are shown apart. Travel time is added to
the minutes when the association counts it, and shown apart otherwise.
"""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, func, select

from instance import rollups
from instance.action_rules import Caller
from instance.errors import Forbidden, Invalid
from instance.i18n import _
from instance.periods import Period, month_end, month_key
from instance.rollups import COUNTERS, Totals
from instance.valuation import RateUsed, euros, hours_text, method_text, rates_used
from schema.tables import Association, Category, Level, Membership, Project, Rollup, User

GROUPINGS = ("month", "category", "project", "level", "volunteer")
Counters = dict[str, int]


@dataclass(frozen=True)
class Figures:
    """Totals of counted (validated) actions, with pending ones apart."""

    minutes: int = 0
    actions: int = 0
    valued_cents: int | None = None
    pending_minutes: int = 0
    pending_actions: int = 0
    travel_minutes: int = 0
    distance_hundredths: int = 0
    volunteers: int | None = None

    @property
    def valued_amount(self) -> str | None:
        """The value in euros as a decimal string, or None when nothing is valued."""
        return euros(self.valued_cents)


@dataclass(frozen=True)
class Group:
    """The figures of one month, category, project, level or volunteer."""

    key: str | int | None
    label: str
    figures: Figures


@dataclass(frozen=True)
class Summary:
    """Totals over a period, optionally split into groups, with how values are computed."""

    period: Period
    total: Figures
    group_by: str | None = None
    groups: list[Group] = field(default_factory=list)
    method: str = ""
    rates: list[RateUsed] = field(default_factory=list)


def figures(counters: Mapping[str, int], policy: str, volunteers: int | None = None) -> Figures:
    """Figures from rollup counters, applying the association's travel time policy."""
    counted = policy == "counted"
    valued = None
    if counters.get("valued_actions", 0):
        valued = counters.get("valued_cents", 0)
        valued += counters.get("travel_valued_cents", 0) if counted else 0
    travel = counters.get("travel_minutes_counted", 0)
    return Figures(
        minutes=counters.get("minutes_counted", 0) + (travel if counted else 0),
        actions=counters.get("actions_counted", 0),
        valued_cents=valued,
        pending_minutes=counters.get("minutes_pending", 0)
        + (counters.get("travel_minutes_pending", 0) if counted else 0),
        pending_actions=counters.get("actions_pending", 0),
        travel_minutes=travel,
        distance_hundredths=counters.get("distance_hundredths", 0),
        volunteers=volunteers,
    )


def _add(target: Counters, source: Mapping[str, int]) -> None:
    for name, value in source.items():
        target[name] = target.get(name, 0) + value


@dataclass
class _Split:
    """A period cut into whole months (rollups) and partial edges (raw actions)."""

    first_month: str | None
    last_month: str | None
    edges: list[tuple[date, date]]


def split(period: Period) -> _Split:
    """Cut a period into its run of whole months and the partial months around it."""
    start, end = period.start, period.end
    edges: list[tuple[date, date]] = []
    if start > end:
        return _Split(None, None, [])
    if start.day != 1:
        edge_end = min(month_end(start), end)
        edges.append((start, edge_end))
        start = edge_end + timedelta(days=1)
    if start <= end and end != month_end(end):
        edge_start = max(end.replace(day=1), start)
        edges.append((edge_start, end))
        end = edge_start - timedelta(days=1)
    if start > end:
        return _Split(None, None, edges)
    return _Split(month_key(start), month_key(end), edges)


ALL_KEYS = (0, 2**31 - 1)  # the key range that filters nothing
_SUMS = tuple(func.sum(getattr(Rollup, name)) for name in COUNTERS)
_IN_RANGE = (
    Rollup.association_id == bindparam("association_id"),
    Rollup.dimension == bindparam("dimension"),
    Rollup.month >= bindparam("first_month"),
    Rollup.month <= bindparam("last_month"),
    Rollup.key_id >= bindparam("key_low"),
    Rollup.key_id <= bindparam("key_high"),
)
# Built once: statements are reused with new parameters on every summary.
_SUMS_BY_MONTH = select(Rollup.month, *_SUMS).where(*_IN_RANGE).group_by(Rollup.month)
_SUMS_BY_KEY = select(Rollup.key_id, *_SUMS).where(*_IN_RANGE).group_by(Rollup.key_id)
_COUNTED = Rollup.actions_counted > 0
_DISTINCT_VOLUNTEERS = select(func.count(func.distinct(Rollup.key_id))).where(*_IN_RANGE, _COUNTED)
_VOLUNTEER_KEYS = select(Rollup.key_id).where(*_IN_RANGE, _COUNTED).distinct()
_VOLUNTEERS_BY_MONTH = (
    select(Rollup.month, func.count()).where(*_IN_RANGE, _COUNTED).group_by(Rollup.month)
)


def _run(session: Session, statement: Any, **params: Any) -> Any:
    return session.connection().execute(statement, params)


def _range(
    association_id: int, parts: _Split, dimension: str, key_id: int | None
) -> dict[str, Any]:
    low, high = ALL_KEYS if key_id is None else (key_id, key_id)
    return {
        "association_id": association_id,
        "dimension": dimension,
        "first_month": parts.first_month,
        "last_month": parts.last_month,
        "key_low": low,
        "key_high": high,
    }


def _rollup_sums(session: Session, statement: Any, params: dict[str, Any]) -> dict[Any, Counters]:
    if params["first_month"] is None:
        return {}
    return {
        label: {name: int(value or 0) for name, value in zip(COUNTERS, sums, strict=True)}
        for label, *sums in _run(session, statement, **params)
    }


def _edge_volunteers(edges: Totals) -> dict[str, set[int]]:
    found: dict[str, set[int]] = defaultdict(set)
    for (month, dimension, member), counters in edges.items():
        if dimension == "volunteer" and counters.get("actions_counted", 0) > 0:
            found[month].add(member)
    return found


def _volunteer_count(session: Session, params: dict[str, Any], edges: Totals) -> int:
    """The distinct volunteers with counted actions over the period."""
    at_edges = set().union(*_edge_volunteers(edges).values())
    if params["first_month"] is None:
        return len(at_edges)
    params = {**params, "dimension": "volunteer"}
    if not at_edges:
        return int(_run(session, _DISTINCT_VOLUNTEERS, **params).scalar_one())
    return len(at_edges | set(_run(session, _VOLUNTEER_KEYS, **params).scalars()))


def _volunteers_by_month(session: Session, params: dict[str, Any], edges: Totals) -> dict[str, int]:
    """The number of volunteers with counted actions, by month."""
    found = {month: len(members) for month, members in _edge_volunteers(edges).items()}
    if params["first_month"] is not None:
        params = {**params, "dimension": "volunteer"}
        for month, count in _run(session, _VOLUNTEERS_BY_MONTH, **params):
            found[month] = int(count)
    return found


def _edge_totals(
    session: Session, association_id: int, parts: _Split, membership_id: int | None
) -> Totals:
    totals: Totals = defaultdict(dict)
    for start, end in parts.edges:
        found = rollups.raw_totals(session, association_id, start, end, membership_id=membership_id)
        for key, counters in found.items():
            _add(totals[key], counters)
    return totals


def _merge(
    rollup: Mapping[Any, Counters],
    edges: Totals,
    dimension: str,
    *,
    by_month: bool,
    key_id: int | None = None,
) -> dict[Any, Counters]:
    found: dict[Any, Counters] = defaultdict(dict)
    for label, counters in rollup.items():
        _add(found[label], counters)
    for (month, edge_dimension, key), counters in edges.items():
        if edge_dimension == dimension and (key_id is None or key == key_id):
            _add(found[month if by_month else key], counters)
    return found


def _labels(
    session: Session, association: Association, dimension: str, keys: list[Any]
) -> dict[Any, str]:
    ids = [key for key in keys if key]
    if dimension == "volunteer":
        return volunteer_labels(session, ids)
    model: Any = {"category": Category, "project": Project, "level": Level}[dimension]
    found: dict[Any, str] = {0: _("No project") if dimension == "project" else _("No level")}
    if ids:
        for entry_id, name in session.exec(
            select(model.id, model.name).where(col(model.id).in_(ids))
        ):
            found[entry_id] = name
    return found


def volunteer_labels(session: Session, membership_ids: list[int]) -> dict[Any, str]:
    """How to name these members: their display name, username or access-link label."""
    if not membership_ids:
        return {}
    query = (
        select(Membership.id, Membership.label, User.display_name, User.username)
        .join(User, col(Membership.user_id) == col(User.id), isouter=True)
        .where(col(Membership.id).in_(membership_ids))
    )
    return {
        member_id: display or username or label or _("Former member")
        for member_id, label, display, username in session.exec(query)
    }


def _month_groups(
    counters: Mapping[Any, Counters],
    months: list[str],
    volunteers: Mapping[str, int],
    policy: str,
) -> list[Group]:
    return [
        Group(month, month, figures(counters.get(month, {}), policy, volunteers.get(month, 0)))
        for month in months
    ]


def _key_groups(
    session: Session, association: Association, dimension: str, counters: Mapping[Any, Counters]
) -> list[Group]:
    kept = {key: row for key, row in counters.items() if row.get("actions_counted", 0) > 0}
    labels = _labels(session, association, dimension, list(kept))
    policy = association.travel_time_policy
    groups = [
        Group(
            key or None,
            labels.get(key, str(key)),
            figures(row, policy, 1 if dimension == "volunteer" else None),
        )
        for key, row in kept.items()
    ]
    return sorted(groups, key=lambda group: (-group.figures.minutes, group.label.lower()))


def compute_summary(
    session: Session,
    *,
    association: Association,
    period: Period,
    group_by: str | None = None,
    membership_id: int | None = None,
) -> Summary:
    """The figures of an association (or of one of its members) over a period."""
    if group_by is not None and group_by not in GROUPINGS:
        raise Invalid({"group_by": _("Choose month, category, project, level or volunteer.")})
    assert association.id is not None
    policy = association.travel_time_policy
    parts = split(period)
    edges = _edge_totals(session, association.id, parts, membership_id)
    dimension = "total" if membership_id is None else "volunteer"
    params = _range(association.id, parts, dimension, membership_id)
    months = _merge(
        _rollup_sums(session, _SUMS_BY_MONTH, params),
        edges,
        dimension,
        by_month=True,
        key_id=membership_id,
    )
    total: Counters = {}
    for counters in months.values():
        _add(total, counters)
    volunteers = _volunteer_count(session, params, edges)
    groups: list[Group] = []
    if group_by == "month":
        by_month = _volunteers_by_month(session, params, edges)
        groups = _month_groups(months, period.months(), by_month, policy)
    elif group_by is not None and membership_id is None:
        rows = _rollup_sums(session, _SUMS_BY_KEY, {**params, "dimension": group_by})
        groups = _key_groups(
            session, association, group_by, _merge(rows, edges, group_by, by_month=False)
        )
    elif group_by is not None:
        raw = rollups.raw_totals(
            session, association.id, period.start, period.end, membership_id=membership_id
        )
        groups = _key_groups(
            session, association, group_by, _merge({}, raw, group_by, by_month=False)
        )
    return Summary(
        period=period,
        total=figures(total, policy, volunteers),
        group_by=group_by,
        groups=groups,
        method=method_text(association),
        rates=rates_used(session, association),
    )


def association_summary(
    session: Session,
    *,
    association: Association,
    caller: Caller,
    period: Period,
    group_by: str | None = None,
) -> Summary:
    """The association's figures, for managers who see every action."""
    if not caller.may_view_all:
        raise Forbidden(_("Only managers may see the association's figures."))
    return compute_summary(session, association=association, period=period, group_by=group_by)


def volunteer_summary(
    session: Session, *, membership: Membership, period: Period, group_by: str | None = None
) -> Summary:
    """One member's own figures in their association."""
    association = session.get(Association, membership.association_id)
    assert association is not None
    return compute_summary(
        session,
        association=association,
        period=period,
        group_by=group_by,
        membership_id=membership.id,
    )


@dataclass(frozen=True)
class AssociationHours:
    """A person's counted minutes in one association, by month."""

    association: Association
    minutes: int
    months: list[tuple[str, int]]


def person_hours(session: Session, *, user: User) -> list[AssociationHours]:
    """Every association where the person has counted time, with minutes by month."""
    memberships = {
        member.id: member
        for member in session.exec(select(Membership).where(Membership.user_id == user.id))
    }
    if not memberships:
        return []
    query = select(
        Rollup.association_id, Rollup.month, Rollup.minutes_counted, Rollup.travel_minutes_counted
    ).where(
        Rollup.dimension == "volunteer",
        col(Rollup.key_id).in_(list(memberships)),
        Rollup.actions_counted > 0,
    )
    months: dict[int, dict[str, int]] = defaultdict(dict)
    associations = {
        association.id: association
        for association in session.exec(
            select(Association).where(
                col(Association.id).in_({m.association_id for m in memberships.values()})
            )
        )
    }
    for association_id, month, minutes, travel in session.exec(query):
        counted = associations[association_id].travel_time_policy == "counted"
        months[association_id][month] = minutes + (travel if counted else 0)
    found = []
    for member in memberships.values():
        association = associations[member.association_id]
        rows = sorted(months.get(member.association_id, {}).items())
        if rows or member.status == "active":
            found.append(AssociationHours(association, sum(m for _month, m in rows), rows))
    return sorted(found, key=lambda item: item.association.name.lower())


@dataclass(frozen=True)
class AccountingRow:
    """One line of the "contributions volontaires en nature" view."""

    account: str
    account_label: str
    side: str
    category_id: int | None
    category: str
    minutes: int
    hours: str
    valued_cents: int


ACCOUNTS = {"debit": ("864", "Personnel bénévole"), "credit": ("875", "Bénévolat")}


def accounting_rows(
    session: Session, *, association: Association, year: int
) -> list[AccountingRow]:
    """A year's volunteer time by category as accounts 864 (debit) and 875 (credit)."""
    if not 2000 <= year <= 9999:
        raise Invalid({"year": _("Enter a year like 2024.")})
    period = Period(date(year, 1, 1), date(year, 12, 31))
    summary = compute_summary(session, association=association, period=period, group_by="category")
    rows = []
    for side, (account, label) in ACCOUNTS.items():
        for group in summary.groups:
            rows.append(
                AccountingRow(
                    account=account,
                    account_label=label,
                    side=side,
                    category_id=group.key if isinstance(group.key, int) else None,
                    category=group.label,
                    minutes=group.figures.minutes,
                    hours=hours_text(group.figures.minutes),
                    valued_cents=group.figures.valued_cents or 0,
                )
            )
    return rows
