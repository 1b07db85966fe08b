"""A network dashboard as a download (CSV, ODS, XLSX, JSON): one row per group, then the total."""

from datetime import datetime, tzinfo
from typing import Any

from instance.export_formats import Column, Document
from instance.i18n import N_, _
from instance.network_dashboard import Dashboard, Sums
from instance.network_sums import CURRENCY
from schema.tables import Association

GROUP_HEADERS = {"month": N_("Month"), "member": N_("Member"), "category": N_("Category")}
FIGURES = (
    (Column("minutes", N_("Minutes"), "integer"), "minutes"),
    (Column("hours", N_("Duration (hours, decimal)"), "hours"), "minutes"),
    (Column("actions", N_("Actions"), "integer"), "actions"),
    (Column("valued_amount", N_("Valued amount (EUR)"), "money"), "valued_cents"),
    (Column("volunteers", N_("Volunteers (where reported)"), "integer"), "volunteers"),
    (Column("volunteers_hidden", N_("Reports without a volunteer count"), "integer"), "hidden"),
    (Column("reports", N_("Reports"), "integer"), "reports"),
)


def dashboard_document(
    found: Dashboard, *, network: Association, threshold: int, zone: tzinfo
) -> Document:
    """The frame of a dashboard export, with what its figures mean."""
    now = datetime.now(zone).replace(microsecond=0)
    group = Column("group", GROUP_HEADERS[found.group_by], "text")
    columns = (group, *(column for column, _field in FIGURES))
    notes = [
        _("Sums of the monthly reports the members sent, exactly, with no rounding."),
        _(
            "Volunteers are summed over the reports that state them: a person active "
            "in two associations or in two months counts twice."
        ),
        _(
            "Associations with fewer volunteers than the threshold report their totals "
            "only: no breakdown by category and no volunteer count."
        ),
    ]
    meta = {
        "export": "network_dashboard",
        "generated_at": now.isoformat(),
        "time_zone": str(zone),
        "network": {"slug": network.slug, "name": network.name},
        "from": found.months.first,
        "to": found.months.last,
        "group_by": found.group_by,
        "threshold": threshold,
        "currency": CURRENCY,
        "columns": [{"key": column.key, "label": column.label} for column in columns],
        "notes": notes,
    }
    about = [
        (_("Network"), network.name),
        (_("From"), found.months.first),
        (_("To"), found.months.last),
        (_("Grouped by"), _(GROUP_HEADERS[found.group_by])),
        (_("Threshold"), str(threshold)),
        (_("Generated at"), now.isoformat(" ")[:19]),
        *((_("Note"), note) for note in notes),
    ]
    return Document(
        key="rows",
        title=_("Network"),
        columns=columns,
        headers=[column.label for column in columns],
        meta=meta,
        about=about,
        about_title=_("Method"),
        statuses={},
    )


def _cells(sums: Sums, minutes_only: bool) -> list[Any]:
    cells = []
    for column, name in FIGURES:
        if minutes_only and column.key not in {"minutes", "hours"}:
            cells.append(None)
        else:
            cells.append(getattr(sums, name))
    return cells


def dashboard_rows(found: Dashboard) -> list[tuple[Any, ...]]:
    """One row per group, then the total row."""
    minutes_only = found.group_by == "category"
    rows = [(group.label, *_cells(group.sums, minutes_only)) for group in found.groups]
    rows.append((_("Total"), *_cells(found.total, False)))
    return rows
