"""What the exports hold: every action of a selection, or the lines of a summary.

Actions are streamed in batches by ``instance.action_exports.action_batches`` (one
query, names looked up instead of joined), so memory does not grow with the number
of rows. Rows are tuples in the order of their columns, with raw values (minutes,
cents, hundredths of a km); the writers of ``instance.export_formats`` turn them
into text or typed cells.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from instance.action_exports import BATCH, Selection, action_batches, where  # noqa: F401 (named here too)
from instance.action_rules import Caller
from instance.actions import ActionFilters
from instance.errors import Forbidden, Invalid
from instance.export_formats import Column, Document
from instance.i18n import N_, _
from instance.summaries import Summary
from instance.valuation import RateUsed, euros, method_text, rates_used
from schema.tables import Action, Association, Category, Level, Membership, Project, User

ACTION_COLUMNS = (
    Column("id", N_("Number"), "integer"),
    Column("date", N_("Date"), "date"),
    Column("end_date", N_("End date"), "date"),
    Column("volunteer", N_("Volunteer"), "text"),
    Column("association", N_("Association"), "text"),
    Column("title", N_("Title"), "text"),
    Column("description", N_("Description"), "text"),
    Column("category", N_("Category"), "text"),
    Column("project", N_("Project"), "text"),
    Column("level", N_("Level"), "text"),
    Column("minutes", N_("Minutes"), "integer"),
    Column("hours", N_("Duration (hours, decimal)"), "hours"),
    Column("travel_minutes", N_("Travel minutes"), "integer"),
    Column("distance_km", N_("Distance (km)"), "distance"),
    Column("status", N_("Status"), "status"),
    Column("valued_amount", N_("Valued amount (EUR)"), "money"),
    Column("hourly_rate", N_("Hourly rate (EUR)"), "money"),
    Column("entered_by", N_("Entered by"), "text"),
    Column("entered_at", N_("Entered at"), "datetime"),
)
STATUS_LABELS = {
    "validated": N_("Validated"),
    "pending": N_("Waiting for validation"),
    "refused": N_("Refused"),
}
GROUP_HEADERS = {
    None: N_("Period"),
    "month": N_("Month"),
    "category": N_("Category"),
    "project": N_("Project"),
    "level": N_("Level"),
    "volunteer": N_("Volunteer"),
}


@dataclass(frozen=True)
class Valuation:
    """How one association values its actions, for auditors."""

    slug: str
    name: str
    method: str
    rates: list[RateUsed] = field(default_factory=list)


def _named(session: Session, model: Any, entry_id: int, association_id: int) -> str | None:
    entry = session.get(model, entry_id)
    if entry is None or entry.association_id != association_id:
        return None
    return str(entry.name)


def check_filters(
    session: Session, *, association: Association, filters: ActionFilters
) -> dict[str, str]:
    """The names the filters point to, by parameter; raise Invalid for unknown ids or dates."""
    assert association.id is not None
    errors: dict[str, str] = {}
    names: dict[str, str] = {}
    if filters.start and filters.end and filters.end < filters.start:
        errors["to"] = _("The last day must not be before the first day.")
    entries = (
        ("category", Category, filters.category_id, _("No such category in this association.")),
        ("project", Project, filters.project_id, _("No such project in this association.")),
        ("level", Level, filters.level_id, _("No such level in this association.")),
    )
    for name, model, entry_id, message in entries:
        if entry_id is not None:
            found = _named(session, model, entry_id, association.id)
            if found is None:
                errors[name] = message
            else:
                names[name] = found
    if filters.volunteer_id is not None:
        member = session.get(Membership, filters.volunteer_id)
        if member is None or member.association_id != association.id:
            errors["volunteer"] = _("No such volunteer in this association.")
    if errors:
        raise Invalid(errors)
    return names


def association_selection(
    session: Session, *, association: Association, caller: Caller, filters: ActionFilters
) -> Selection:
    """Every action of the association matching the filters (view_actions holders only)."""
    if not caller.may_view_all:
        raise Forbidden(_("Only managers who may see every action can export them."))
    names = check_filters(session, association=association, filters=filters)
    assert association.id is not None
    return Selection((association.id,), filters, former_member=_("Former member"), names=names)


def own_selection(session: Session, *, user: User, filters: ActionFilters) -> Selection:
    """The person's own actions in every association they belong or belonged to."""
    other = {
        "volunteer": filters.volunteer_id,
        "category": filters.category_id,
        "project": filters.project_id,
        "level": filters.level_id,
    }
    errors = {
        name: _("This filter is only available in an association's export.")
        for name, value in other.items()
        if value is not None
    }
    if filters.start and filters.end and filters.end < filters.start:
        errors["to"] = _("The last day must not be before the first day.")
    if errors:
        raise Invalid(errors)
    query = select(Membership.id, Membership.association_id).where(Membership.user_id == user.id)
    rows = session.exec(query).all()
    return Selection(
        tuple(sorted({association_id for _id, association_id in rows})),
        filters,
        membership_ids=tuple(member_id for member_id, _association in rows if member_id),
        former_member=_("Former member"),
    )


def count_actions(session: Session, selection: Selection) -> int:
    """How many actions the selection holds."""
    if not selection.association_ids:
        return 0
    return int(session.exec(where(select(func.count()).select_from(Action), selection)).one())


def valuations(session: Session, association_ids: Sequence[int]) -> list[Valuation]:
    """The valuation method and rates of each association, by name."""
    if not association_ids:
        return []
    query = select(Association).where(col(Association.id).in_(association_ids))
    found = [
        Valuation(row.slug, row.name, method_text(row), rates_used(session, row))
        for row in session.exec(query)
    ]
    return sorted(found, key=lambda item: item.name.lower())


def valuation_json(item: Valuation) -> dict[str, Any]:
    """An association's valuation method and rates as JSON (amounts as decimal strings)."""
    return {
        "association": item.slug,
        "name": item.name,
        "method": item.method,
        "rates": [
            {
                "level_id": rate.level_id,
                "level": rate.level,
                "effective_from": rate.effective_from.isoformat() if rate.effective_from else None,
                "hourly_rate": euros(rate.hourly_rate_cents),
            }
            for rate in item.rates
        ],
    }


def valuation_lines(found: Sequence[Valuation]) -> list[tuple[str, str]]:
    """The valuation method and rates of each association, as label / value lines."""
    lines: list[tuple[str, str]] = []
    for item in found:
        lines.append((_("Association"), item.name))
        lines.append((_("Valuation method"), item.method))
        for rate in item.rates:
            label = _("Hourly rate: {level}").format(level=rate.level)
            if rate.effective_from:
                label = _("Hourly rate: {level}, from {date}").format(
                    level=rate.level, date=rate.effective_from.isoformat()
                )
            lines.append((label, f"{euros(rate.hourly_rate_cents)} EUR"))
    return lines


def filter_lines(filters: ActionFilters, names: Mapping[str, str]) -> list[tuple[str, str]]:
    """The filters of an export, as label / value lines."""
    lines = [
        (_("From"), filters.start.isoformat() if filters.start else _("The first action")),
        (_("To"), filters.end.isoformat() if filters.end else _("The last action")),
    ]
    labelled = (
        ("volunteer", _("Volunteer"), filters.volunteer_id),
        ("category", _("Category"), filters.category_id),
        ("project", _("Project"), filters.project_id),
        ("level", _("Level"), filters.level_id),
    )
    for key, label, value in labelled:
        if value is not None:
            lines.append((label, f"{names.get(key, '')} (#{value})".strip()))
    if filters.status is not None:
        lines.append((_("Status"), _(STATUS_LABELS[filters.status])))
    return lines


def filters_json(filters: ActionFilters) -> dict[str, Any]:
    """The filters of an export, as the query parameters that chose them."""
    return {
        "from": filters.start.isoformat() if filters.start else None,
        "to": filters.end.isoformat() if filters.end else None,
        "volunteer": filters.volunteer_id,
        "category": filters.category_id,
        "project": filters.project_id,
        "level": filters.level_id,
        "status": filters.status,
    }


def _notes() -> str:
    return _(
        "Only validated actions count in the totals; the valued amount is shown for every "
        "action. Durations in hours are rounded to 2 decimals; minutes are exact. Amounts "
        "are in euros. Dates and times are in the instance time zone."
    )


def _document(
    key: str,
    columns: Sequence[Column],
    zone: tzinfo,
    meta: dict[str, Any],
    about: list[tuple[str, str]],
) -> Document:
    now = datetime.now(zone).replace(microsecond=0)
    title = _("Actions") if key == "actions" else _("Summary")
    return Document(
        key=key,
        title=title,
        columns=columns,
        headers=[column.label for column in columns],
        meta={
            "export": "actions" if key == "actions" else "summary",
            "generated_at": now.isoformat(),
            "time_zone": str(zone),
            **meta,
            "columns": [{"key": column.key, "label": column.label} for column in columns],
            "notes": _notes(),
        },
        about=[
            (_("Export"), title),
            (_("Generated at"), now.isoformat(" ")[:19]),
            (_("Time zone"), str(zone)),
            *about,
            (_("Notes"), _notes()),
        ],
        about_title=_("Method"),
        statuses={status: _(label) for status, label in STATUS_LABELS.items()},
    )


def actions_document(session: Session, *, selection: Selection, zone: tzinfo) -> Document:
    """The frame of an export of actions: headers, filters and each valuation method."""
    found = valuations(session, selection.association_ids)
    meta = {
        "filters": filters_json(selection.filters),
        "valuation": [valuation_json(item) for item in found],
    }
    about = [*filter_lines(selection.filters, selection.names), *valuation_lines(found)]
    return _document("actions", ACTION_COLUMNS, zone, meta, about)


def summary_document(summary: Summary, *, association: Association, zone: tzinfo) -> Document:
    """The frame of a summary export: one row per group and the total, with the method."""
    valuation = Valuation(association.slug, association.name, summary.method, summary.rates)
    start, end = summary.period.start.isoformat(), summary.period.end.isoformat()
    meta = {
        "association": {"slug": association.slug, "name": association.name},
        "from": start,
        "to": end,
        "group_by": summary.group_by,
        "valuation": [valuation_json(valuation)],
    }
    about = [
        (_("From"), start),
        (_("To"), end),
        (_("Grouped by"), _(GROUP_HEADERS[summary.group_by]) if summary.group_by else "-"),
        *valuation_lines([valuation]),
    ]
    group = Column("group", GROUP_HEADERS[summary.group_by], "text")
    columns = (group, *(column for column, _field in SUMMARY_FIGURES))
    return _document("rows", columns, zone, meta, about)


#: The figures of a summary export after the group, each with its field of Figures.
SUMMARY_FIGURES = (
    (Column("minutes", N_("Minutes"), "integer"), "minutes"),
    (Column("hours", N_("Duration (hours, decimal)"), "hours"), "minutes"),
    (Column("actions", N_("Actions"), "integer"), "actions"),
    (Column("volunteers", N_("Volunteers"), "integer"), "volunteers"),
    (Column("valued_amount", N_("Valued amount (EUR)"), "money"), "valued_cents"),
    (Column("pending_minutes", N_("Minutes waiting for validation"), "integer"), "pending_minutes"),
    (Column("pending_actions", N_("Actions waiting for validation"), "integer"), "pending_actions"),
    (Column("travel_minutes", N_("Travel minutes"), "integer"), "travel_minutes"),
    (Column("distance_km", N_("Distance (km)"), "distance"), "distance_hundredths"),
)


def summary_rows(summary: Summary) -> list[tuple[Any, ...]]:
    """One row per group of the summary, then the total row."""
    lines = [(group.label, group.figures) for group in summary.groups]
    lines.append((_("Total"), summary.total))
    fields = [name for _column, name in SUMMARY_FIGURES]
    return [(label, *(getattr(found, name) for name in fields)) for label, found in lines]
