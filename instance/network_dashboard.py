"""A network's dashboard: exact sums of its members' reports by month, member or category.

Only reports that count enter the sums: not deleted, proof verified. Minutes,
actions and valued amounts are summed exactly (no rounding); volunteers are
summed only over the reports that state them (a person active in two
associations, or in two months, counts twice), and the number of reports that
hid their count is given beside. Every figure is a sum of report fields, so
nothing below a member's threshold can be worked out beyond what its reports
allow.

By month and by category, the dashboard reads the network's monthly sums
(``NetworkMonth``, ``NetworkMonthCategory``, kept by network_reports in the
transaction of every report write): 60 rows for five years. By member, it sums a
covering index of ``ReceivedReport``, never the stored bodies.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import false
from sqlmodel import Session, col, func, select

from instance import network_members, network_sums, networks
from instance.errors import Invalid
from instance.i18n import N_, _
from instance.network_sums import VERIFIED
from instance.periods import month_end, month_key, parse_month, resolve_period
from schema.tables import (
    Association,
    NetworkMember,
    NetworkMemberYear,
    NetworkMonth,
    NetworkMonthCategory,
    ReceivedReport,
)

GROUPINGS = ("month", "member", "category")
MONTH_SHAPE = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
FORMER_MEMBER = N_("Former member")
TOTALS_ONLY = N_("Not broken down (associations under the threshold)")


@dataclass(frozen=True)
class Months:
    """An inclusive range of months, as 'YYYY-MM'."""

    first: str
    last: str


def _day(value: str | None, *, last: bool) -> str | date | None:
    """A 'YYYY-MM' bound as its first (or last) day; other values go through as they are."""
    if value is None or not MONTH_SHAPE.fullmatch(value.strip()):
        return value
    first = parse_month(value.strip())
    return month_end(first) if last else first


def read_months(
    *,
    today: date,
    preset: str | None = None,
    start: str | None = None,
    end: str | None = None,
    default: str = "this_year",
) -> Months:
    """The months of a preset or of from/to ('YYYY-MM' or 'YYYY-MM-DD'); raise Invalid.

    Reports are monthly: a day inside a month stands for its whole month.
    """
    period = resolve_period(
        today=today,
        preset=preset,
        start=_day(start, last=False),
        end=_day(end, last=True),
        default=default,
    )
    return Months(month_key(period.start), month_key(period.end))


def check_group_by(value: str | None) -> str:
    """month, member or category (month when absent); raise Invalid."""
    if not value:
        return "month"
    if value not in GROUPINGS:
        raise Invalid({"group_by": _("Choose month, member or category.")})
    return value


@dataclass(frozen=True)
class Sums:
    """Exact sums of some reports' fields."""

    minutes: int = 0
    actions: int = 0
    valued_cents: int | None = None  # None: no report stated a valued amount in euros
    volunteers: int = 0  # over the reports that state it
    hidden: int = 0  # reports without a volunteer count (under the threshold)
    totals_only_minutes: int = 0  # minutes of the reports without a breakdown
    reports: int = 0


@dataclass(frozen=True)
class Group:
    """One line of a dashboard: a month, a member or a category."""

    key: str | int | None
    label: str
    sums: Sums
    anonymous: bool = False


@dataclass(frozen=True)
class Member:
    """What the dashboard shows of a member, read as plain columns (no ORM objects)."""

    id: int
    name: str  # as the network's managers see it
    actor_uri: str
    anonymous: bool
    is_network: bool
    status: str

    @property
    def host(self) -> str:
        """The instance that hosts the member."""
        return network_members.host_of_uri(self.actor_uri)


@dataclass(frozen=True)
class Freshness:
    """A member and its latest report (by reception), flagged when its proof failed."""

    member: Member
    month: str | None = None
    received_at: datetime | None = None
    updated: datetime | None = None
    proof_status: str | None = None

    @property
    def flagged(self) -> bool:
        """True when the latest report failed verification."""
        return self.proof_status is not None and self.proof_status != VERIFIED


@dataclass(frozen=True)
class Dashboard:
    """What the network's managers see over a range of months."""

    months: Months
    group_by: str
    total: Sums
    groups: list[Group]
    members: int
    freshness: list[Freshness] = field(default_factory=list)

    @property
    def flagged(self) -> int:
        """How many members' latest report failed verification."""
        return sum(1 for line in self.freshness if line.flagged)


R = ReceivedReport
S = NetworkMonth


def rows(session: Session, query: Any) -> list[Any]:
    """The rows of a query, through SQLAlchemy Core (no ORM row processing: faster)."""
    return list(session.connection().execute(query).all())


def _sums(row: Any) -> Sums:
    minutes, actions, valued, volunteers, stated, totals_only, reports = row
    return Sums(
        minutes=int(minutes or 0),
        actions=int(actions or 0),
        valued_cents=None if valued is None else int(valued),
        volunteers=int(volunteers or 0),
        hidden=int(reports) - int(stated),
        totals_only_minutes=int(totals_only or 0),
        reports=int(reports or 0),
    )


def by_month(session: Session, network_id: int, months: Months) -> list[Group]:
    """One group per month that has counted reports, in order (from the monthly sums)."""
    query = (
        select(
            S.month,
            S.minutes,
            S.actions,
            S.valued_cents,
            S.volunteers,
            S.stated,
            S.totals_only_minutes,
            S.reports,
        )
        .where(
            S.network_id == network_id, col(S.month) >= months.first, col(S.month) <= months.last
        )
        .order_by(S.month)
    )
    return [Group(month, month, _sums(rest)) for month, *rest in rows(session, query)]


def total(session: Session, network_id: int, months: Months) -> Sums:
    """The sums over every counted report of the months."""
    return add_up(group.sums for group in by_month(session, network_id, months))


def split_years(
    session: Session, network_id: int, months: Months
) -> tuple[list[str], list[Months]]:
    """The years whose kept sums are exactly the months' share, and the rest as month ranges.

    A year counts whole when the months cover it, or when none of its months left
    out has a counted report (the network's monthly sums say which have).
    """
    first_year, last_year = int(months.first[:4]), int(months.last[:4])
    edges = {first_year, last_year}
    query = select(S.month).where(
        S.network_id == network_id,
        col(S.month).in_([f"{year}-{month:02d}" for year in edges for month in range(1, 13)]),
    )
    with_reports = {row[0] for row in rows(session, query)}
    whole: list[str] = []
    parts: list[Months] = []
    for year in range(first_year, last_year + 1):
        covered = Months(max(months.first, f"{year}-01"), min(months.last, f"{year}-12"))
        left_out = [
            month
            for month in (f"{year}-{number:02d}" for number in range(1, 13))
            if not covered.first <= month <= covered.last
        ]
        if any(month in with_reports for month in left_out):
            parts.append(covered)
        else:
            whole.append(str(year))
    return whole, parts


def _year_sums(network_id: int, years: list[str]) -> Any:
    Y = NetworkMemberYear  # noqa: N806
    return (
        select(
            Y.member_id,
            func.sum(Y.minutes),
            func.sum(Y.actions),
            func.sum(Y.valued_cents),
            func.sum(Y.volunteers),
            func.sum(Y.stated),
            func.sum(Y.totals_only_minutes),
            func.sum(Y.reports),
        )
        .where(Y.network_id == network_id, col(Y.year).in_(years))
        .group_by(Y.member_id)
    )


def _report_sums(network_id: int, part: Months) -> Any:
    return (
        select(R.member_id, *network_sums.figures())
        .where(
            *network_sums.counted(network_id),
            col(R.month) >= part.first,
            col(R.month) <= part.last,
        )
        .group_by(R.member_id)
    )


def member_sums(session: Session, network_id: int, months: Months) -> dict[int | None, Sums]:
    """The sums of each member's counted reports (None: reports of deleted members).

    Whole years come from the kept sums by member and year (a row per member and
    year), the months of a year covered in part from the reports themselves.
    """
    if months.first > months.last:
        return {}
    whole, parts = split_years(session, network_id, months)
    queries = [_report_sums(network_id, part) for part in parts]
    if whole:
        queries.append(_year_sums(network_id, whole))
    found: dict[int | None, list[Sums]] = {}
    for query in queries:
        for member_id, *rest in rows(session, query):
            found.setdefault(member_id, []).append(_sums(rest))
    return {key: add_up(parts) if len(parts) > 1 else parts[0] for key, parts in found.items()}


def by_member(session: Session, network: Association, months: Months) -> list[Group]:
    """One group per member with counted reports, most minutes first (managers' names)."""
    assert network.id is not None
    sums = member_sums(session, network.id, months)
    members = members_of(session, network.id)  # one indexed read, cheaper than 1,000 ids in IN
    groups = []
    for member_id, found in sums.items():
        member = members.get(member_id) if member_id is not None else None
        if member is None:
            groups.append(Group(None, _(FORMER_MEMBER), found))
        else:
            groups.append(Group(member_id, member.name, found, member.anonymous))
    return sorted(groups, key=lambda g: (-g.sums.minutes, g.label.casefold(), str(g.key)))


M = NetworkMember
MEMBER_COLUMNS = (M.id, M.name, M.actor_uri, M.anonymous, M.is_network, M.status)


def _member(row: Any) -> Member:
    member_id, name, actor_uri, anonymous, is_network, status = row
    shown = network_members.name_or_host(name, actor_uri)
    return Member(member_id, shown, actor_uri, anonymous, is_network, status)


def members_of(
    session: Session, network_id: int, *, ids: list[int] | None = None, status: str | None = None
) -> dict[int, Member]:
    """The network's members (of these ids, or of a status), by id."""
    query = select(*MEMBER_COLUMNS).where(M.network_id == network_id)
    if status is not None:
        query = query.where(M.status == status)
    if ids is None:
        return {row[0]: _member(row) for row in rows(session, query)}
    found: dict[int, Member] = {}
    for start in range(0, len(ids), 500):
        chunk = query.where(col(M.id).in_(ids[start : start + 500]))
        found.update({row[0]: _member(row) for row in rows(session, chunk)})
    return found


def by_category(session: Session, network: Association, months: Months, whole: Sums) -> list[Group]:
    """A group per reference category (listed ones even at zero), then totals-only minutes."""
    assert network.id is not None
    K = NetworkMonthCategory  # noqa: N806
    query = (
        select(K.key, func.sum(K.minutes))
        .where(
            K.network_id == network.id, col(K.month) >= months.first, col(K.month) <= months.last
        )
        .group_by(K.key)
    )
    minutes = {key: int(value) for key, value in rows(session, query)}
    groups = []
    for category in networks.list_categories(session, network=network, archived=None):
        value = minutes.pop(category.key, 0)
        if value or not category.archived:
            groups.append(Group(category.key, category.label, Sums(minutes=value)))
    groups += [Group(key, key, Sums(minutes=value)) for key, value in sorted(minutes.items())]
    if whole.totals_only_minutes:
        groups.append(Group(None, _(TOTALS_ONLY), Sums(minutes=whole.totals_only_minutes)))
    return groups


def freshness(session: Session, network: Association) -> list[Freshness]:
    """Each active member with its latest report (by reception), by name."""
    assert network.id is not None
    # One index seek per member: (network_id, member_id, deleted, received_at).
    latest = (
        select(R.id)
        .where(R.network_id == network.id, R.member_id == M.id, R.deleted == false())
        .order_by(col(R.received_at).desc(), col(R.id).desc())
        .limit(1)
        .correlate(M)
        .scalar_subquery()
    )
    query = (
        select(*MEMBER_COLUMNS, R.month, R.received_at, R.updated, R.proof_status)
        .select_from(M)
        .outerjoin(R, R.id == latest)
        .where(M.network_id == network.id, M.status == "active")
    )
    lines = [Freshness(_member(row[:6]), *row[6:]) for row in rows(session, query)]
    return sorted(lines, key=lambda line: (line.member.name.casefold(), line.member.id))


def dashboard(
    session: Session, *, network: Association, months: Months, group_by: str = "month"
) -> Dashboard:
    """The network's sums over the months, grouped, with each member's freshness."""
    assert network.id is not None
    group_by = check_group_by(group_by)
    if group_by == "month":
        groups = by_month(session, network.id, months)
        whole = add_up(group.sums for group in groups)
    elif group_by == "member":
        groups = by_member(session, network, months)
        whole = add_up(group.sums for group in groups)
    else:
        whole = total(session, network.id, months)
        groups = by_category(session, network, months, whole)
    return Dashboard(
        months=months,
        group_by=group_by,
        total=whole,
        groups=groups,
        members=network_members.members_count(session, network),
        freshness=freshness(session, network),
    )


def add_up(parts: Any) -> Sums:
    """The exact sum of several Sums."""
    values = {"minutes": 0, "actions": 0, "volunteers": 0, "hidden": 0}
    values |= {"totals_only_minutes": 0, "reports": 0}
    valued: int | None = None
    for part in parts:
        for name in values:
            values[name] += getattr(part, name)
        if part.valued_cents is not None:
            valued = (valued or 0) + part.valued_cents
    return Sums(valued_cents=valued, **values)


@dataclass(frozen=True)
class Overview:
    """Every grouping of the months at once, for the dashboard page."""

    months: Months
    total: Sums
    by_month: list[Group]
    by_member: list[Group]
    by_category: list[Group]
    members: int
    freshness: list[Freshness]

    @property
    def flagged(self) -> list[Freshness]:
        """The members whose latest report failed verification."""
        return [line for line in self.freshness if line.flagged]


def overview(session: Session, *, network: Association, months: Months) -> Overview:
    """The sums by month, member and category, and each member's freshness."""
    assert network.id is not None
    months_groups = by_month(session, network.id, months)
    whole = add_up(group.sums for group in months_groups)
    return Overview(
        months=months,
        total=whole,
        by_month=months_groups,
        by_member=by_member(session, network, months),
        by_category=by_category(session, network, months, whole),
        members=network_members.members_count(session, network),
        freshness=freshness(session, network),
    )
