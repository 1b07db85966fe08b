"""Page: a network's dashboard, with charts, tables, flags and downloads (its managers).

Figures come from instance/network_dashboard.py (exact sums of the members'
reports); charts are inline SVG from web/charts.py, each with its table.
"""

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from instance import network_dashboard, networks
from instance.errors import Invalid
from instance.i18n import N_, _
from instance.network_dashboard import Freshness, Group, Months, Overview, Sums
from instance.periods import PRESET_LABELS, month_end, parse_month
from web import charts, table_rows
from web.api.actions import today_for
from web.api.exports import read_format
from web.api.network_dashboard import stream_dashboard
from web.auth import login_required
from web.formats import format_date, format_minutes
from web.pages.networks import managed
from web.services import services
from web.templating import render

PRESETS = ("this_year", "last_year", "all_time")
EXPORT_FORMATS = (("csv", "CSV"), ("ods", "ODS"), ("xlsx", "XLSX"), ("json", "JSON"))
MAX_MONTH_BARS = 36
TOP_MEMBERS = 15
GROUP_LABELS = {
    "month": N_("By month"),
    "member": N_("By member"),
    "category": N_("By category"),
}


@dataclass(frozen=True)
class Chosen:
    """The months the page shows, and how they were asked for."""

    months: Months
    preset: str
    start: str
    end: str
    errors: dict[str, str]


def chosen_months(request: Request) -> Chosen:
    """The months of ?preset= or ?from=&to= (this year by default); bad dates are reported."""
    params = request.query_params
    start, end = params.get("from", "")[:20], params.get("to", "")[:20]
    preset = params.get("preset", "")[:20] or ("custom" if start or end else "this_year")
    day = today_for(request)
    try:
        months = network_dashboard.read_months(
            today=day, preset=preset, start=start or None, end=end or None
        )
    except Invalid as error:
        months = network_dashboard.read_months(today=day, preset="this_year")
        return Chosen(months, "this_year", start, end, error.errors)
    first = parse_month(months.first)
    last = month_end(parse_month(months.last))
    return Chosen(months, preset, start or first.isoformat(), end or last.isoformat(), {})


def shown_from(chosen: Chosen, found: Overview) -> Chosen:
    """Since the beginning starts at the first month with reports, not in the year 2000."""
    if chosen.preset != "all_time" or not found.by_month:
        return chosen
    first = str(found.by_month[0].key)
    return replace(chosen, start=parse_month(first).isoformat())


def preset_links(base: str, chosen: Chosen) -> list[tuple[str, str, bool]]:
    """(href, label, current) for each preset."""
    return [
        (f"{base}?preset={name}", _(PRESET_LABELS[name]), chosen.preset == name) for name in PRESETS
    ]


def month_points(groups: list[Group]) -> list[tuple[str, int]]:
    """(label, minutes) by month, or by year when there are too many months."""
    rows = [(str(group.key), group.sums.minutes) for group in groups]
    if len(rows) <= MAX_MONTH_BARS:
        return rows
    years: dict[str, int] = defaultdict(int)
    for key, minutes in rows:
        years[key[:4]] += minutes
    return list(years.items())


def euros(cents: int | None) -> str:
    """Cents as "1234.05" ("—" when unknown)."""
    if cents is None:
        return "—"
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}{whole}.{rest:02d}"


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One line of the members table, its cells formatted once (1,000 lines per page)."""

    name: str
    host: str
    anonymous: bool
    sums: Sums
    month: str | None
    received_at: datetime | None
    proof_status: str | None
    flagged: bool
    active: bool
    hours: str
    value: str
    received: str
    check: str


def _member_row(
    name: str,
    host: str,
    anonymous: bool,
    sums: Sums,
    line: Freshness | None,
    checks: dict[str, str],
) -> MemberRow:
    received_at = line.received_at if line is not None else None
    flagged = line.flagged if line is not None else False
    if line is None:  # a former member: its counted reports, no latest one to check
        check = "—"
    elif flagged:
        check = checks["flagged"]
    else:
        check = checks["verified"] if received_at is not None else checks["none"]
    return MemberRow(
        name=name,
        host=host,
        anonymous=anonymous,
        sums=sums,
        month=line.month if line is not None else None,
        received_at=received_at,
        proof_status=line.proof_status if line is not None else None,
        flagged=flagged,
        active=line is not None,
        hours=format_minutes(sums.minutes),
        value=euros(sums.valued_cents),
        received=format_date(received_at) if received_at is not None else "—",
        check=check,
    )


def member_rows(found: Overview) -> list[MemberRow]:
    """Each member with its sums over the months and its latest report, most hours first."""
    checks = {
        "flagged": _("Failed verification"),
        "verified": _("Verified"),
        "none": _("No report yet"),
    }
    sums = {group.key: group for group in found.by_member}
    rows = []
    for line in found.freshness:
        group = sums.pop(line.member.id, None)
        rows.append(
            _member_row(
                line.member.name,
                line.member.host,
                line.member.anonymous,
                group.sums if group else Sums(),
                line,
                checks,
            )
        )
    for group in sums.values():
        rows.append(_member_row(group.label, "", group.anonymous, group.sums, None, checks))
    return sorted(rows, key=lambda row: (-row.sums.minutes, row.name.casefold()))


def member_rows_html(rows: list[MemberRow]) -> Markup:
    """The body rows of the members table (1,000 of them: see web/table_rows.py)."""
    anonymous = Markup(' <span class="badge">%s</span>') % _("Listed anonymously")
    former = Markup(' <span class="badge">%s</span>') % _("No longer a member")
    lines = []
    for line in rows:
        header = escape(line.name)
        if line.anonymous:
            header += anonymous
        if not line.active:
            header += former
        if line.host:
            header += Markup('<br><span class="muted">%s</span>') % line.host
        check = Markup('<span class="flag">%s</span>') % line.check if line.flagged else line.check
        cells = [(line.hours, True), (line.sums.actions, True), (line.value, True)]
        cells += [(line.month or "—", False), (line.received, False), (check, False)]
        lines.append(table_rows.row(header, cells))
    return table_rows.body(lines)


def chart_context(found: Overview, rows: list[MemberRow]) -> dict[str, Any]:
    """The three charts of the page."""
    top = [(row.name, row.sums.minutes) for row in rows[:TOP_MEMBERS]]
    return {
        "month_chart": charts.column_chart(
            _("Hours by month"),
            _("Hours the members reported for each month; the table next to it gives the figures."),
            charts.hours_points(month_points(found.by_month)),
        ),
        "category_chart": charts.bar_chart(
            _("Hours by category"),
            _("Hours by reference category; the table next to it gives the figures."),
            charts.hours_points([(g.label, g.sums.minutes) for g in found.by_category]),
        ),
        "member_chart": charts.bar_chart(
            _("Members with the most hours"),
            _("The members with the most hours; the table below gives every member."),
            charts.hours_points(top),
        ),
    }


def export_links(base: str, chosen: Chosen) -> list[tuple[str, list[tuple[str, str]]]]:
    """For each grouping, links to download it in each format."""
    found = []
    for group_by, label in GROUP_LABELS.items():
        query = urlencode({"from": chosen.start, "to": chosen.end, "group_by": group_by})
        found.append(
            (_(label), [(f"{base}/export.{fmt}?{query}", name) for fmt, name in EXPORT_FORMATS])
        )
    return found


@login_required
def dashboard_page(request: Request) -> Response:
    """The network's dashboard over a period: totals, charts, tables, flags, downloads."""
    network, _membership, _user = managed(request, "view_actions")
    chosen = chosen_months(request)
    with services(request).db.read() as session:
        found = network_dashboard.overview(session, network=network, months=chosen.months)
        profile = networks.profile_of(session, network)
    rows = member_rows(found)
    chosen = shown_from(chosen, found)
    base = f"/associations/{network.slug}/network"
    context = {
        "network": network,
        "profile": profile,
        "chosen": chosen,
        "period_first": chosen.start[:7] if chosen.preset == "all_time" else found.months.first,
        "presets": preset_links(f"{base}/dashboard", chosen),
        "base": f"{base}/dashboard",
        "found": found,
        "members": rows,
        "members_html": member_rows_html(rows),
        "flagged": [row for row in rows if row.flagged],
        "silent": [row for row in rows if row.active and row.received_at is None],
        "exports": export_links(base, chosen),
        "open_data": f"/api/v1/networks/{network.slug}/open-data.json",
        **chart_context(found, rows),
    }
    return render(request, "networks/dashboard.html", context)


@login_required
def dashboard_export(request: Request) -> Response:
    """Download the dashboard over the period, by month, member or category (?group_by=)."""
    network, _membership, _user = managed(request, "view_actions")
    return stream_dashboard(request, network, read_format(request))


routes = [
    Route("/associations/{slug}/network/dashboard", dashboard_page, methods=["GET"]),
    Route("/associations/{slug}/network/export.{fmt}", dashboard_export, methods=["GET"]),
]
