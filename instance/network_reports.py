"""Keeping a member's report on the network's side, with the category rows the dashboard sums.

Whoever writes a ``ReceivedReport`` (federation on Create, Update or Delete,
or when a proof's status changes; tests; the benchmark) calls ``save_report``
in the same transaction. It stores the row and rewrites its
``ReceivedReportCategory`` rows, which exist only while the report counts (not
deleted, proof verified) and has a breakdown (it states its volunteers). Keys
the network never listed are kept under "other", so every category sum is a
sum of report cells. When the network is itself a member of a wider network,
the month is noted (``report_changes.mark``) so that its sums are forwarded.

It also rebuilds the network's sums the report enters (``network_sums``).
"""

import json
from collections.abc import Collection, Iterable

from sqlalchemy import delete
from sqlmodel import Session, col, select

from instance import network_sums, report_changes
from instance.network_privacy import OTHER
from instance.network_sums import VERIFIED
from schema.tables import ReceivedReport, ReceivedReportCategory, ReferenceCategory


def categories_of(report: ReceivedReport) -> dict[str, int]:
    """The report's minutes by reference key (whole, non-negative numbers only)."""
    try:
        found = json.loads(report.categories or "{}")
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {
        str(key): value
        for key, value in found.items()
        if isinstance(value, int) and not isinstance(value, bool) and value > 0
    }


def counts(report: ReceivedReport) -> bool:
    """True when the report enters the network's sums: not deleted, proof verified."""
    return not report.deleted and report.proof_status == VERIFIED


def network_keys(session: Session, network_id: int) -> set[str]:
    """Every key the network lists or listed (archived ones too)."""
    query = select(ReferenceCategory.key).where(ReferenceCategory.network_id == network_id)
    return set(session.exec(query).all()) | {OTHER}


def category_rows(
    report: ReceivedReport, known_keys: Collection[str]
) -> list[ReceivedReportCategory]:
    """The category rows of a report (none when it does not count or has no breakdown)."""
    if not counts(report) or report.volunteers is None or report.id is None:
        return []
    minutes: dict[str, int] = {}
    for key, value in categories_of(report).items():
        target = key if key in known_keys else OTHER
        minutes[target] = minutes.get(target, 0) + value
    return [
        ReceivedReportCategory(
            report_id=report.id,
            network_id=report.network_id,
            month=report.month,
            key=key,
            minutes=value,
        )
        for key, value in sorted(minutes.items())
    ]


def save_report(
    session: Session,
    report: ReceivedReport,
    *,
    known_keys: Collection[str] | None = None,
    note_month: bool = True,
) -> ReceivedReport:
    """Store a new or changed report, rewrite its category rows, note the month to forward.

    ``note_month=False``: the caller calls ``reports_written`` itself, once for
    several reports stored in the same transaction.
    """
    is_new = report.id is None
    session.add(report)
    session.flush()
    if not is_new:  # a new report has none (a deleted report's rows go with it: CASCADE)
        session.execute(
            delete(ReceivedReportCategory).where(col(ReceivedReportCategory.report_id) == report.id)
        )
    keys = known_keys if known_keys is not None else network_keys(session, report.network_id)
    session.add_all(category_rows(report, keys))
    if note_month:
        reports_written(session, report.network_id, {(report.member_id, report.month)})
    session.flush()
    return report


def reports_written(
    session: Session, network_id: int, written: Iterable[tuple[int | None, str]]
) -> None:
    """Reports of these (member id, month) were written: rebuild the sums they enter,
    and note their months for a network that forwards its members' sums to a wider one.
    """
    pairs = set(written)
    network_sums.refresh(session, network_id, pairs)
    report_changes.mark(session, association_id=network_id, months={m for _id, m in pairs})
