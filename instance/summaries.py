"""Totals of volunteer time over a date range: for an association, a volunteer, a person.

Whole months are read from the rollups only; the days of a partly covered month
at either end of the range are added up from those days' actions in SQL
(instance/summary_sums.py). Only validated actions count; pending ones are shown
apart. Travel time is added to the minutes when the association counts it, and
shown apart otherwise.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from sqlmodel import Session

from instance.action_rules import Caller
from instance.errors import Forbidden, Invalid
from instance.i18n import _
from instance.member_hours import AssociationHours, person_hours  # noqa: F401 (named here too)
from instance.periods import Period, month_key
from instance.rollups import DAY_DIMENSIONS
from instance.summary_labels import (
    ENTRY_MODELS,
    entry_labels,
    labels_of,
    member_label,
    volunteer_labels,
)
from instance.summary_periods import (
    action_sums,
    edge_volunteer_hours,
    period_keys,
    period_months,
    period_volunteer_count,
    period_volunteers_by_month,
)
from instance.summary_sums import (
    Counters,
    Parts,
    add,
    counted,
    days,
    rollup_dimension_keys,
    rollup_months,
    rollup_volunteer_hours,
    split,
)
from instance.valuation import RateUsed, euros, method_text, rates_used
from schema.tables import Association, Membership

GROUPINGS = ("month", "category", "project", "level", "volunteer")


class Figures(NamedTuple):
    """Totals of counted (validated) actions, with pending ones apart.

    A named tuple (immutable, like a frozen dataclass): a statistics page makes
    hundreds, and a tuple is made in a fifth of a frozen dataclass's time.
    """

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


class Group(NamedTuple):
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


DAY_ENTRIES = tuple(DAY_DIMENSIONS[kind] for kind in ENTRY_MODELS)


def _volunteer_groups(session: Session, association: Association, parts: Parts) -> list[Group]:
    """Each volunteer's hours and actions (no value), named, from one grouped statement."""
    assert association.id is not None
    rows, names = rollup_volunteer_hours(session, association.id, parts)
    for start, end in parts.edges:
        for key, counters in edge_volunteer_hours(session, association.id, start, end).items():
            add(rows.setdefault(key, {}), counters)
    missing = [key for key, row in rows.items() if counted(row) and key not in names]
    labels = volunteer_labels(session, missing)
    # Built directly (what figures() would give from these three counters): 200 rows and more.
    counted_travel = association.travel_time_policy == "counted"
    groups = []
    for key, row in rows.items():
        actions = row.get("actions_counted", 0)
        if actions <= 0:
            continue
        travel = row.get("travel_minutes_counted", 0)
        minutes = row.get("minutes_counted", 0) + (travel if counted_travel else 0)
        label = member_label(*names[key]) if key in names else labels.get(key, str(key))
        groups.append(
            Group(key or None, label, Figures(minutes, actions, None, 0, 0, travel, 0, 1))
        )
    groups.sort(key=lambda group: (-group.figures.minutes, group.label.lower()))
    return groups


def _month_groups(
    counters: Mapping[str, Counters],
    months: list[str],
    volunteers: Mapping[str, int] | None,
    policy: str,
) -> list[Group]:
    return [
        Group(
            month,
            month,
            figures(
                counters.get(month, {}),
                policy,
                None if volunteers is None else volunteers.get(month, 0),
            ),
        )
        for month in months
    ]


def _key_groups(
    session: Session,
    association: Association,
    dimension: str,
    counters: Mapping[int, Counters],
    labels: Mapping[Any, str] | None = None,
) -> list[Group]:
    kept = {key: row for key, row in counters.items() if counted(row)}
    if labels is None:
        labels = labels_of(session, association.id or 0, dimension, list(kept))
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


def _check_grouping(group_by: str | None) -> None:
    if group_by is not None and group_by not in GROUPINGS:
        raise Invalid({"group_by": _("Choose month, category, project, level or volunteer.")})


def compute_summary(
    session: Session,
    *,
    association: Association,
    period: Period,
    group_by: str | None = None,
    membership_id: int | None = None,
) -> Summary:
    """The figures of an association (or of one of its members) over a period."""
    _check_grouping(group_by)
    if membership_id is not None:
        return _member_summary(session, association, period, group_by, membership_id)
    assert association.id is not None
    policy, parts = association.travel_time_policy, split(period)
    months = period_months(session, association.id, parts, None)
    total: Counters = {}
    for counters in months.values():
        add(total, counters)
    groups: list[Group] = []
    if group_by == "month":
        by_month = period_volunteers_by_month(session, association.id, parts)
        groups = _month_groups(months, period.months(), by_month, policy)
    elif group_by is not None:
        rows = period_keys(session, association.id, parts, group_by)
        groups = _key_groups(session, association, group_by, rows)
    if group_by == "volunteer":
        volunteers = len(groups)
    else:
        volunteers = period_volunteer_count(session, association.id, parts)
    return _summary(session, association, period, total, volunteers, group_by, groups)


def _summary(
    session: Session,
    association: Association,
    period: Period,
    total: Counters,
    volunteers: int,
    group_by: str | None,
    groups: list[Group],
) -> Summary:
    return Summary(
        period=period,
        total=figures(total, association.travel_time_policy, volunteers),
        group_by=group_by,
        groups=groups,
        method=method_text(association),
        rates=rates_used(session, association),
    )


def _member_summary(
    session: Session,
    association: Association,
    period: Period,
    group_by: str | None,
    membership_id: int,
) -> Summary:
    """One member's figures: their monthly rollups, and their actions for other groupings."""
    assert association.id is not None
    policy, parts = association.travel_time_policy, split(period)
    months = period_months(session, association.id, parts, membership_id)
    total: Counters = {}
    for counters in months.values():
        add(total, counters)
    groups: list[Group] = []
    if group_by == "month":
        active = {month: int(counted(row)) for month, row in months.items()}
        groups = _month_groups(months, period.months(), active, policy)
    elif group_by is not None:
        rows = action_sums(
            session,
            association.id,
            period.start,
            period.end,
            key=group_by,
            membership_id=membership_id,
        )
        groups = _key_groups(session, association, group_by, rows)
    volunteers = 1 if counted(total) else 0
    return _summary(session, association, period, total, volunteers, group_by, groups)


OVERVIEW = ("month", "category", "project", "level", "volunteer")


def association_overview(
    session: Session, *, association: Association, caller: Caller, period: Period
) -> dict[str, Summary]:
    """The five summaries of a statistics page (by month, category, project, level, volunteer).

    Each sum is read once and shared: the totals by month, the groups of each
    dimension (for volunteers only their hours and actions, which is what the
    page shows), and the number of volunteers counted from the volunteers' groups.
    Month groups carry no volunteer count here.
    """
    if not caller.may_view_all:
        raise Forbidden(_("Only managers may see the association's figures."))
    assert association.id is not None
    policy, parts = association.travel_time_policy, split(period)
    sums, category_edges = _overview_keys(session, association.id, parts)
    months = _overview_months(session, association.id, parts, category_edges)
    total: Counters = {}
    for counters in months.values():
        add(total, counters)
    groups = {"month": _month_groups(months, period.months(), None, policy)}
    labels = entry_labels(session, association.id)
    for dimension, rows in sums.items():
        groups[dimension] = _key_groups(session, association, dimension, rows, labels[dimension])
    groups["volunteer"] = _volunteer_groups(session, association, parts)
    base = _summary(session, association, period, total, len(groups["volunteer"]), None, [])
    return {name: replace(base, group_by=name, groups=groups[name]) for name in OVERVIEW}


def _overview_keys(
    session: Session, association_id: int, parts: Parts
) -> tuple[dict[str, dict[int, Counters]], list[dict[int, Counters]]]:
    """The category, project and level sums of a period, and each edge's categories apart."""
    found = rollup_dimension_keys(session, association_id, parts, tuple(ENTRY_MODELS))
    category_edges: list[dict[int, Counters]] = []
    for start, end in parts.edges:
        edges = rollup_dimension_keys(session, association_id, days(start, end), DAY_ENTRIES)
        for dimension, rows in found.items():
            edge = edges[DAY_DIMENSIONS[dimension]]
            if dimension == "category":
                category_edges.append(edge)
            for key, counters in edge.items():
                add(rows.setdefault(key, {}), counters)
    return found, category_edges


def _overview_months(
    session: Session, association_id: int, parts: Parts, edges: list[dict[int, Counters]]
) -> dict[str, Counters]:
    """Counters by month: whole months from rollups, each edge the sum of its categories."""
    months = rollup_months(session, association_id, parts)
    for (start, _end), by_category in zip(parts.edges, edges, strict=True):
        total: Counters = {}
        for counters in by_category.values():
            add(total, counters)
        months[month_key(start)] = total
    return months


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
