"""What a network that is itself a member of a wider network states to it for a month.

A regional network forwards to a national one the sums of the reports its own
members sent: the wider network sees totals by member network, never
association-level data. Nothing of the individual reports is forwarded: no
report, no member name, no per-member figure; only the sums below.

- Only reports that count enter the sums (``network_reports.counts``: not
  deleted, proof verified), of that month only.
- Minutes, actions and valued amounts are exact sums (no rounding).
- The valued amount is summed when every valued report states the same
  currency; when currencies differ (or one is missing) no amount is stated:
  ``valued_cents`` and ``currency`` are both None, as for a network whose
  members value no time at all.
- Volunteers are the sum of the counts the reports state (None when no report
  states one). A person active in two member associations counts twice: the
  reports carry counts, not people, so nobody can be counted once.
- The breakdown sums the category cells of the reports (``ReceivedReportCategory``
  rows: each one a published cell of a counted report), mapped onto the wider
  network's keys. Sums of published figures reveal nothing new: each cell was
  already protected by the member that sent it, and the network's own open data
  publishes exactly these sums by month and category to anyone. The minutes of
  reports sent as totals only have no cell; they go to "other", which is then
  the forwarded total minus the mapped cells, both stated anyway.
- The wider network's threshold applies to the forwarded month as to any
  member's: when fewer volunteers than the threshold are stated (or none), the
  month is forwarded as totals only, without volunteers nor breakdown.
"""

from dataclasses import dataclass

from sqlalchemy import case, false
from sqlmodel import Session, col, func, select

from instance.network_reports import VERIFIED
from instance.report_figures import OTHER, ReportFigures
from schema.tables import Association, ReceivedReport, ReceivedReportCategory, ReferenceCategory

R = ReceivedReport
C = ReceivedReportCategory


@dataclass(frozen=True)
class MemberSums:
    """The exact sums of a network's counted reports for one month."""

    minutes: int = 0
    actions: int = 0
    volunteers: int | None = None  # None: no report states its volunteers
    valued_cents: int | None = None  # None: nothing valued, or currencies differ
    currency: str | None = None
    totals_only_minutes: int = 0  # minutes of reports without a breakdown

    @property
    def empty(self) -> bool:
        """True when no member gave any time that month."""
        return self.minutes == 0 and self.actions == 0


def _counted(network_id: int, month: str) -> list[object]:
    return [
        R.network_id == network_id,
        R.month == month,
        R.deleted == false(),
        R.proof_status == VERIFIED,
    ]


def member_sums(session: Session, *, network_id: int, month: str) -> MemberSums:
    """The sums of the network's counted received reports for one month."""
    query = (
        select(
            R.currency,
            func.sum(R.minutes),
            func.sum(R.actions),
            func.sum(R.valued_cents),
            func.count(R.valued_cents),
            func.sum(R.volunteers),
            func.count(R.volunteers),
            func.sum(case((col(R.volunteers).is_(None), R.minutes), else_=0)),
        )
        .where(*_counted(network_id, month))
        .group_by(R.currency)
    )
    minutes = actions = volunteers = stated = totals_only = 0
    valued: dict[str, int] = {}
    for currency, mins, acts, cents, valued_count, vols, vols_count, bare in session.exec(query):
        minutes += int(mins or 0)
        actions += int(acts or 0)
        volunteers += int(vols or 0)
        stated += int(vols_count or 0)
        totals_only += int(bare or 0)
        if valued_count:
            valued[currency or ""] = valued.get(currency or "", 0) + int(cents or 0)
    currency, cents = next(iter(valued.items())) if len(valued) == 1 else ("", 0)
    return MemberSums(
        minutes=minutes,
        actions=actions,
        volunteers=volunteers if stated else None,
        valued_cents=cents if currency else None,
        currency=currency or None,
        totals_only_minutes=totals_only,
    )


def cell_sums(session: Session, *, network_id: int, month: str) -> dict[str, int]:
    """The network's category cells of the month, summed by its own reference key."""
    query = (
        select(C.key, func.sum(C.minutes))
        .where(C.network_id == network_id, C.month == month)
        .group_by(C.key)
    )
    return {key: int(value or 0) for key, value in session.exec(query) if value}


def _ids_by_key(session: Session, network_id: int) -> dict[str, str]:
    query = select(ReferenceCategory.id, ReferenceCategory.key).where(
        ReferenceCategory.network_id == network_id
    )
    return {key: str(category_id) for category_id, key in session.exec(query)}


def map_cells(
    cells: dict[str, int], *, ids: dict[str, str], mapping: dict[str, str], keys: frozenset[str]
) -> dict[str, int]:
    """Our cells (by our key) onto the wider network's keys; unmapped or unknown go to "other"."""
    mapped: dict[str, int] = {}
    for key, minutes in cells.items():
        target = mapping.get(ids.get(key, ""), OTHER)
        if target not in keys:
            target = OTHER
        mapped[target] = mapped.get(target, 0) + minutes
    return {key: value for key, value in sorted(mapped.items()) if value}


def network_figures(
    session: Session,
    *,
    network: Association,
    month: str,
    mapping: dict[str, str],
    threshold: int,
    keys: frozenset[str],
) -> ReportFigures:
    """The figures the network states to a wider network for one month (sums of its members')."""
    assert network.id is not None
    sums = member_sums(session, network_id=network.id, month=month)
    categories: dict[str, int] | None = None
    volunteers = sums.volunteers
    if volunteers is None or volunteers < threshold:
        volunteers = None
    else:
        cells = cell_sums(session, network_id=network.id, month=month)
        ids = _ids_by_key(session, network.id)
        categories = map_cells(cells, ids=ids, mapping=mapping, keys=keys | {OTHER})
        rest = sums.minutes - sum(categories.values())
        if rest > 0:
            categories[OTHER] = categories.get(OTHER, 0) + rest
    return ReportFigures(
        month=month,
        minutes=sums.minutes,
        actions=sums.actions,
        volunteers=volunteers,
        categories=categories,
        valued_cents=sums.valued_cents,
        currency=sums.currency,
    )
