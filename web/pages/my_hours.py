"""Pages: "My hours", everywhere (this instance and the others), exports and attestations.

``/me/hours`` joins local associations and the summaries other instances sent,
with the proof status of each, the same charts as the statistics pages, the
actions, time awaiting validation and categories of each association, exports
of the months and the attestation (PDF for people, JSON bundle for checking).
``/me/hours/all``, its former address, redirects there.
"""

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from federation.safe_http import host_of
from federation.summary_reconcile import reconcile_user
from instance import person_hours, summaries
from instance.errors import Invalid
from instance.i18n import _
from instance.periods import FIRST_DATE, PRESET_LABELS, Period, month_end, parse_month
from instance.person_hours import CombinedHours, HoursLine, MonthRange, month_label, proof_text
from schema.tables import ReceivedSummary, User
from web import charts, csrf
from web.activitypub._client import federation_client
from web.api.actions import today_for
from web.api.exports import file_name, read_format, streamed
from web.api.hours import bundle_response, pdf_response
from web.auth import current_user, login_redirect, login_required
from web.flash import flash
from web.pages.action_lists import my_memberships
from web.services import services
from web.templating import render

BASE = "/me/hours"
FORMER = "/me/hours/all"
EXPORT_FORMATS = (("csv", "CSV"), ("ods", "ODS"), ("xlsx", "XLSX"), ("json", "JSON"))
PRESETS = ("this_month", "this_year", "last_year", "all_time")


@dataclass(frozen=True)
class Chosen:
    """The months the page shows, how they were asked for, and what was wrong."""

    months: MonthRange
    preset: str
    errors: dict[str, str]


def preset_months(preset: str, today: date) -> MonthRange:
    """The months of a preset: this month, this year, last year or every month."""
    if preset == "this_month":
        return MonthRange(f"{today:%Y-%m}", f"{today:%Y-%m}")
    if preset == "last_year":
        return MonthRange(f"{today.year - 1:04d}-01", f"{today.year - 1:04d}-12")
    if preset == "all_time":
        return MonthRange()
    return MonthRange(f"{today.year:04d}-01", f"{today.year:04d}-12")


def _month_of(value: str) -> str:
    """A month as typed; a day (YYYY-MM-DD, as the former page's links had) gives its month."""
    if len(value) == 10 and value[4] == "-" and value[7] == "-" and value[8:].isdigit():
        return value[:7]
    return value


def chosen_months(request: Request) -> Chosen:
    """The months of ?preset= or ?from=YYYY-MM&to=YYYY-MM (this year by default)."""
    params = request.query_params
    start, end = _month_of(params.get("from", "")[:20]), _month_of(params.get("to", "")[:20])
    preset = params.get("preset", "")[:20]
    today = today_for(request)
    if preset in PRESETS or not (start or end):
        preset = preset if preset in PRESETS else "this_year"
        return Chosen(preset_months(preset, today), preset, {})
    try:
        return Chosen(person_hours.read_month_range(start, end), "custom", {})
    except Invalid as error:
        return Chosen(preset_months("this_year", today), "this_year", error.errors)


def _range(months: MonthRange) -> dict[str, str]:
    return {k: v for k, v in (("from", months.first), ("to", months.last)) if v}


def _query(months: MonthRange) -> str:
    return urlencode(_range(months))


def _with_query(path: str, months: MonthRange) -> str:
    query = _query(months)
    return f"{path}?{query}" if query else path


def _charts(combined: CombinedHours) -> dict[str, Any]:
    months = [(month_label(month, short=True), minutes) for month, minutes in combined.by_month]
    lines = [(f"{line.name} ({line.instance})", line.minutes) for line in combined.lines]
    return {
        "month_chart": charts.column_chart(
            _("Hours by month"),
            _(
                "Hours for each month, in every association; the table next to it gives the figures."
            ),
            charts.hours_points(months),
        ),
        "association_chart": charts.bar_chart(
            _("Hours by association"),
            _("Hours in each association; the table next to it gives the figures."),
            charts.hours_points(lines),
        ),
    }


@dataclass(frozen=True)
class Details:
    """What the figures of one association add: actions, time awaiting validation, categories."""

    actions: int = 0
    pending_minutes: int = 0
    categories: tuple[tuple[str, int], ...] = ()


def _categories(raw: str) -> list[tuple[str, int]]:
    """(name, minutes) of a received summary's categories (as checked when it came)."""
    try:
        found = json.loads(raw) if raw else []
    except ValueError:
        return []
    entries = found if isinstance(found, list) else []
    return [
        (str(entry.get("name", "")), entry["minutes"])
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("minutes"), int)
    ]


def _ordered(minutes_by_name: dict[str, int]) -> tuple[tuple[str, int], ...]:
    kept = [(name, minutes) for name, minutes in minutes_by_name.items() if minutes]
    return tuple(sorted(kept, key=lambda item: (-item[1], item[0].lower())))


def remote_details(rows: list[ReceivedSummary]) -> dict[str, Details]:
    """Actions, pending time and categories of each remote association (by its actor)."""
    grouped: dict[str, list[ReceivedSummary]] = defaultdict(list)
    for row in rows:
        grouped[row.issuer_uri].append(row)
    found = {}
    for issuer, items in grouped.items():
        by_name: dict[str, int] = defaultdict(int)
        for row in items:
            for name, minutes in _categories(row.categories):
                by_name[name] += minutes
        found[issuer] = Details(
            actions=sum(row.actions for row in items),
            pending_minutes=sum(row.pending_minutes for row in items),
            categories=_ordered(by_name),
        )
    return found


def month_period(months: MonthRange, today: date) -> Period:
    """The days of a range of months (open ends: the first possible day, this month's end)."""
    start = parse_month(months.first) if months.first else FIRST_DATE
    end = month_end(parse_month(months.last)) if months.last else month_end(today)
    return Period(start, max(start, end))


def local_details(session: Session, user: User, period: Period) -> dict[str, Details]:
    """Actions, pending time and categories of each association here (by its slug)."""
    found = {}
    for membership, association in my_memberships(session, user):
        kinds = summaries.volunteer_summary(
            session, membership=membership, period=period, group_by="category"
        )
        by_name = {group.label: group.figures.minutes for group in kinds.groups}
        found[association.slug] = Details(
            actions=kinds.total.actions,
            pending_minutes=kinds.total.pending_minutes,
            categories=_ordered(by_name),
        )
    return found


def details_of(line: HoursLine, local: dict[str, Details], remote: dict[str, Details]) -> Details:
    """The details of one line of the page."""
    return (remote.get(line.issuer_uri) if line.remote else local.get(line.slug)) or Details()


def page_context(
    request: Request,
    chosen: Chosen,
    combined: CombinedHours,
    details: list[Details] | None = None,
) -> dict[str, Any]:
    """What the page shows."""
    months = chosen.months
    found = details if details is not None else [Details() for _line in combined.lines]
    return {
        "chosen": chosen,
        "base": BASE,
        "printable": request.query_params.get("print") == "1",
        "printable_href": f"{BASE}?{urlencode({**_range(months), 'print': '1'})}",
        "total_actions": sum(item.actions for item in found),
        "total_pending": sum(item.pending_minutes for item in found),
        "presets": [
            (f"{BASE}?preset={name}", _(PRESET_LABELS[name]), chosen.preset == name)
            for name in PRESETS
        ],
        "combined": combined,
        "lines": [
            (line, proof_text(line), item) for line, item in zip(combined.lines, found, strict=True)
        ],
        "month_rows": [(month_label(m), minutes) for m, minutes in combined.by_month],
        "month_label": month_label,
        "exports": [
            (_with_query(f"{BASE}/export.{fmt}", months), label) for fmt, label in EXPORT_FORMATS
        ],
        "attestation_pdf": _with_query("/me/hours/attestation.pdf", months),
        "attestation_json": _with_query("/me/hours/attestation.json", months),
        "has_remote": any(line.remote for line in combined.lines),
        **_charts(combined),
    }


@login_required
def my_hours(request: Request) -> Response:
    """My hours in every association, here and on other instances."""
    user = current_user(request)
    assert user is not None
    chosen = chosen_months(request)
    found = services(request)
    with found.db.read() as session:
        combined = person_hours.combined_hours(
            session, user=user, domain=found.config.domain, months=chosen.months
        )
        rows = person_hours.received_summaries(session, user=user, months=chosen.months)
        local = local_details(session, user, month_period(chosen.months, today_for(request)))
    remote = remote_details(rows)
    details = [details_of(line, local, remote) for line in combined.lines]
    return render(request, "hours/mine.html", page_context(request, chosen, combined, details))


def moved(request: Request) -> Response:
    """The former addresses (/me/hours/all...): permanently moved, the query string kept."""
    path = request.url.path.replace(FORMER, BASE, 1)
    query = request.url.query
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=301)


def _strict_months(request: Request) -> MonthRange:
    params = request.query_params
    return person_hours.read_month_range(params.get("from"), params.get("to"))


@login_required
def hours_export(request: Request) -> Response:
    """Download my hours by association and month (CSV, ODS, XLSX or JSON)."""
    user = current_user(request)
    assert user is not None
    fmt = read_format(request)
    months = _strict_months(request)
    found = services(request)
    with found.db.read() as session:
        combined = person_hours.combined_hours(
            session, user=user, domain=found.config.domain, months=months
        )
    document = person_hours.hours_document(combined, zone=found.config.zone)
    rows = person_hours.hours_rows(combined)
    name = file_name(user.username, "hours", months.first, months.last)
    return streamed(request, fmt=fmt, document=document, filename=name, rows=lambda _s: [rows])


@login_required
def attestation_pdf(request: Request) -> Response:
    """Download my attestation as a PDF."""
    user = current_user(request)
    assert user is not None
    return pdf_response(request, user, _strict_months(request))


@login_required
def attestation_json(request: Request) -> Response:
    """Download my attestation bundle (JSON), to check with benefed verify or /verify."""
    user = current_user(request)
    assert user is not None
    found = services(request)
    return bundle_response(found.db, found.config, user, _strict_months(request), download=True)


async def refresh(request: Request) -> Response:
    """Ask each linked instance again for every summary it holds about me (POST)."""
    user = await run_in_threadpool(current_user, request)
    if user is None or user.id is None:
        return login_redirect(request)
    form = await request.form(max_files=2, max_fields=200)
    csrf.check(request, form)
    found = services(request)
    report = await reconcile_user(found.db, federation_client(request), found.config, user.id)
    if report.failed:
        hosts = ", ".join(sorted({host_of(uri) for uri in report.failed}))
        flash(
            request, _("Some instances could not be reached: {hosts}.").format(hosts=hosts), "error"
        )
    elif report.links:
        flash(request, _("Your hours from other instances are up to date."))
    else:
        flash(request, _("Your account is not linked to another instance yet."), "info")
    return RedirectResponse(BASE, status_code=303)


routes = [
    Route(BASE, my_hours, methods=["GET"]),
    Route(BASE + "/export.{fmt}", hours_export, methods=["GET"]),
    Route(FORMER, moved, methods=["GET"]),
    Route(FORMER + "/export.{fmt}", moved, methods=["GET"]),
    Route("/me/hours/attestation.pdf", attestation_pdf, methods=["GET"]),
    Route("/me/hours/attestation.json", attestation_json, methods=["GET"]),
    Route("/me/hours/refresh", refresh, methods=["POST"]),
]
