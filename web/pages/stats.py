"""Pages: statistics with charts, "My hours", the accounting view and the downloads.

Figures come from instance/summaries.py (a statistics page reads each sum once:
summaries.association_overview); charts are inline SVG from web/charts.py. The
lists of actions are in web/pages/action_lists.py.
"""

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from instance import actions, exports, summaries
from instance.accounting import (
    FULL_TIME_YEAR_HOURS,
    AccountingRow,
    accounting_rows,
    full_time_equivalent,
)
from instance.action_rules import Caller
from instance.errors import Forbidden, Invalid
from instance.i18n import _
from instance.periods import PRESET_LABELS, Period, preset_period, resolve_period
from instance.summaries import Figures, Group, Summary
from instance.valuation import euros, method_text
from schema.tables import Association
from web import charts, table_rows
from web.api.actions import association_for, plain_place, today_for
from web.api.exports import file_name, read_format, stream_actions, streamed
from web.auth import current_user, login_redirect, login_required
from web.formats import format_minutes
from web.pages.action_lists import export_links
from web.pages.actions import manage_links
from web.services import services
from web.templating import render
from web.view_runner import on_loop

MAX_MONTH_BARS = 36
TABLES = ("category", "project", "level", "volunteer")


# Statistics


@dataclass(frozen=True)
class Chosen:
    """The period a statistics page shows, and how it was asked for."""

    period: Period
    preset: str
    start: str
    end: str
    errors: dict[str, str]


def chosen_period(request: Request) -> Chosen:
    """The period of ?preset= or ?from=&to= (this year by default); bad dates are reported."""
    params = request.query_params
    start, end = params.get("from", "")[:20], params.get("to", "")[:20]
    preset = params.get("preset", "")[:20] or ("custom" if start or end else "this_year")
    day = today_for(request)
    try:
        period = resolve_period(today=day, preset=preset, start=start or None, end=end or None)
    except Invalid as error:
        return Chosen(preset_period("this_year", today=day), "this_year", start, end, error.errors)
    return Chosen(
        period, preset, start or period.start.isoformat(), end or period.end.isoformat(), {}
    )


def preset_links(base: str, chosen: Chosen) -> list[tuple[str, str, bool]]:
    """(href, label, current) for each preset period."""
    return [
        (f"{base}?preset={name}", _(PRESET_LABELS[name]), chosen.preset == name)
        for name in ("this_month", "this_year", "last_year", "all_time")
    ]


def month_rows(summary: Summary) -> list[tuple[str, Figures]]:
    """(label, figures) by month, from the first month with time; by year when too many."""
    groups = [(str(group.key), group.figures) for group in summary.groups]
    while groups and not (groups[0][1].actions or groups[0][1].pending_actions):
        groups.pop(0)
    if len(groups) <= MAX_MONTH_BARS:
        return groups
    years: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for key, figures in groups:
        years[key[:4]]["minutes"] += figures.minutes
        years[key[:4]]["actions"] += figures.actions
        years[key[:4]]["pending_minutes"] += figures.pending_minutes
    return [(year, Figures(**values)) for year, values in years.items()]


def _charts(months: list[tuple[str, Figures]], groups: list[tuple[str, int]]) -> dict[str, Any]:
    return {
        "month_chart": charts.column_chart(
            _("Hours by month"),
            _(
                "Validated hours for each month of the period; the table next to it gives the figures."
            ),
            charts.hours_points([(label, figures.minutes) for label, figures in months]),
        ),
        "group_chart": charts.bar_chart(
            _("Hours by category"),
            _("Validated hours for each category; the table next to it gives the figures."),
            charts.hours_points(groups),
        ),
    }


def group_rows(groups: list[Group], *, valued: bool = True) -> Markup:
    """The body rows of a group table: name, hours, actions and value (200 volunteers:
    written in Python, see web/table_rows.py)."""
    lines = []
    for group in groups:
        figures = group.figures
        numbers: list[str | int] = [format_minutes(figures.minutes), figures.actions]
        if valued:
            numbers.append(euros(figures.valued_cents) or "—")
        lines.append(table_rows.number_row(group.label, numbers))
    return table_rows.body(lines)


def month_table(months: list[tuple[str, Figures]]) -> Markup:
    """The body rows of the months' table: month, hours and actions."""
    return table_rows.body(
        table_rows.number_row(label, (format_minutes(figures.minutes), figures.actions))
        for label, figures in months
    )


def association_figures(
    session: Session, association: Association, caller: Caller, period: Period
) -> dict[str, Any]:
    """Every summary the statistics page shows, and its tables' rows."""
    found = summaries.association_overview(
        session, association=association, caller=caller, period=period
    )
    months = month_rows(found["month"])
    categories = [(g.label, g.figures.minutes) for g in found["category"].groups]
    return {
        "summaries": found,
        "months": months,
        "month_table": month_table(months),
        "tables": {
            name: group_rows(found[name].groups, valued=name != "volunteer") for name in TABLES
        },
        **_charts(months, categories),
    }


@on_loop
def association_stats(request: Request) -> Response:
    """The statistics of an association (managers who see every action).

    The person, the figures and the page's frame are read in one read.
    """
    chosen = chosen_period(request)
    with services(request).db.read() as session:
        user = current_user(request, session)
        if user is None:
            return login_redirect(request)
        association, caller = plain_place(session, request.path_params["slug"], user)
        if not caller.may_view_all:
            raise Forbidden(_("Only managers may see the association's figures."))
        figures = association_figures(session, association, caller, chosen.period)
        base = f"/associations/{association.slug}/stats"
        context = {
            "association": association,
            "chosen": chosen,
            "presets": preset_links(base, chosen),
            "base": base,
            "printable": request.query_params.get("print") == "1",
            "query": urlencode({"from": chosen.period.start, "to": chosen.period.end}),
            "total": figures["summaries"]["month"].total,
            "manage_links": manage_links(association, caller),
            "exports": export_links(f"{base}/export", {"from": chosen.start, "to": chosen.end}),
            "year": chosen.period.end.year,
            **figures,
        }
        return render(request, "stats/association.html", context, reading=session)


def _year(request: Request) -> int:
    raw = request.query_params.get("year", "")
    if raw.isdigit() and len(raw) == 4:
        return int(raw)
    return today_for(request).year


def _accounting(
    request: Request,
) -> tuple[Association, int, list[AccountingRow], list[tuple[str, str]]]:
    user = current_user(request)
    year = _year(request)
    with services(request).db.read() as session:
        association, caller = association_for(session, request.path_params["slug"], user)
        if not caller.may_view_all:
            raise Forbidden(_("Only managers may see the association's figures."))
        rows = accounting_rows(session, association=association, year=year)
    return association, year, rows, manage_links(association, caller)


@login_required
def accounting(request: Request) -> Response:
    """A year's volunteer time as "contributions volontaires en nature" (accounts 864 / 875)."""
    association, year, rows, links = _accounting(request)
    debit = [row for row in rows if row.side == "debit"]
    credit = [row for row in rows if row.side == "credit"]
    total = sum(row.valued_cents for row in debit)
    context = {
        "association": association,
        "year": year,
        "years": list(range(today_for(request).year, today_for(request).year - 6, -1)),
        "debit": debit,
        "credit": credit,
        "total_cents": total,
        "total_euros": euros(total),
        "total_minutes": sum(row.minutes for row in debit),
        "full_time": full_time_equivalent(sum(row.minutes for row in debit)),
        "full_time_hours": FULL_TIME_YEAR_HOURS,
        "method": method_text(association),
        "manage_links": links,
    }
    return render(request, "stats/accounting.html", context)


@login_required
def accounting_csv(request: Request) -> Response:
    """The accounting view as a CSV file (one line per account and category)."""
    association, year, rows, _links = _accounting(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_("Account"), _("Label"), _("Side"), _("Category"), _("Hours"), _("Amount")])
    for row in rows:
        side = _("Debit") if row.side == "debit" else _("Credit")
        writer.writerow(
            [row.account, row.account_label, side, row.category, row.hours, euros(row.valued_cents)]
        )
    name = f"{association.slug}-accounting-{year}.csv"
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# Downloads for the browser (the API's exports take a token; these take the session).


def _download(request: Request, selection: exports.Selection, name: str) -> Response:
    return stream_actions(request, fmt=read_format(request), selection=selection, filename=name)


@login_required
def actions_export(request: Request) -> Response:
    """Download the association's actions, filtered like the list (view_actions)."""
    user = current_user(request)
    with services(request).db.read() as session:
        association, caller = association_for(session, request.path_params["slug"], user)
        if not caller.may_view_all:
            raise Forbidden(_("Only managers who may see every action can export them."))
        filters = actions.read_filters(request.query_params)
        selection = exports.association_selection(
            session, association=association, caller=caller, filters=filters
        )
    name = file_name(association.slug, "actions", filters.start, filters.end)
    return _download(request, selection, name)


@login_required
def my_export(request: Request) -> Response:
    """Download my own actions in every association (from, to, status)."""
    user = current_user(request)
    assert user is not None
    with services(request).db.read() as session:
        filters = actions.read_filters(request.query_params)
        selection = exports.own_selection(session, user=user, filters=filters)
    return _download(request, selection, file_name(user.username, "actions", filters.start))


@login_required
def stats_export(request: Request) -> Response:
    """Download the association's figures over the period, by category (or ?group_by=)."""
    user = current_user(request)
    fmt = read_format(request)
    chosen = chosen_period(request)
    if chosen.errors:
        raise Invalid(chosen.errors)
    group_by = request.query_params.get("group_by") or "category"
    with services(request).db.read() as session:
        association, caller = association_for(session, request.path_params["slug"], user)
        summary = summaries.association_summary(
            session, association=association, caller=caller, period=chosen.period, group_by=group_by
        )
        document = exports.summary_document(
            summary, association=association, zone=services(request).config.zone
        )
        rows = exports.summary_rows(summary)
    name = file_name(association.slug, "summary", group_by, chosen.period.start, chosen.period.end)
    return streamed(request, fmt=fmt, document=document, filename=name, rows=lambda _s: [rows])


routes = [
    Route("/associations/{slug}/actions/export.{fmt}", actions_export, methods=["GET"]),
    Route("/associations/{slug}/stats/export.{fmt}", stats_export, methods=["GET"]),
    Route("/me/actions/export.{fmt}", my_export, methods=["GET"]),
    Route("/associations/{slug}/stats", association_stats, methods=["GET"]),
    Route("/associations/{slug}/stats/accounting", accounting, methods=["GET"]),
    Route("/associations/{slug}/stats/accounting.csv", accounting_csv, methods=["GET"]),
]
