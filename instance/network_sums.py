"""A network's kept sums: by month, by month and category, by member and year.

The dashboard, its API and the open data read these rows instead of summing
every report: by month and category, 60 rows for five years whatever the number
of members; by member, one row per member and year. ``network_reports`` rebuilds
the rows a report write touched, in the same transaction (``refresh``). Rows are
rebuilt from the reports themselves, never by adding differences, so they cannot
drift from what they sum: the reports that count (not deleted, proof verified),
and their category cells.
"""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Select, case, delete, false, insert, text
from sqlmodel import Session, col, func, select

from schema.tables import (
    NetworkMemberYear,
    NetworkMonth,
    NetworkMonthCategory,
    ReceivedReport,
    ReceivedReportCategory,
)
from schema.tables.networks import SUM_COLUMNS

VERIFIED = "verified"  # the proof status of a report that counts
CURRENCY = "EUR"  # the valued amounts the sums add up
R = ReceivedReport
C = ReceivedReportCategory
LOCK_SPACE = 7302  # namespace of the advisory lock of refresh (PostgreSQL)
_LOCK = text("SELECT pg_advisory_xact_lock(:space, :key)")
CHUNK = 500  # months, members or years per statement
FIGURES = list(SUM_COLUMNS)


def figures() -> tuple[Any, ...]:
    """The aggregates of reports, in the order of FIGURES."""
    return (
        func.sum(R.minutes),
        func.sum(R.actions),
        func.sum(case((R.currency == CURRENCY, R.valued_cents))),
        func.coalesce(func.sum(R.volunteers), 0),
        func.count(R.volunteers),
        func.coalesce(func.sum(case((col(R.volunteers).is_(None), R.minutes))), 0),
        func.count(),
    )


def counted(network_id: int) -> list[ColumnElement[bool]]:
    """SQL conditions: the network's reports that count."""
    return [R.network_id == network_id, R.deleted == false(), R.proof_status == VERIFIED]


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _lock(session: Session, network_id: int) -> None:
    """One refresher of a network at a time (PostgreSQL; SQLite writers already are)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK, {"space": LOCK_SPACE, "key": network_id})


def _month_sums(network_id: int, months: list[str]) -> Select[Any]:
    return (
        select(R.network_id, R.month, *figures())
        .where(*counted(network_id), col(R.month).in_(months))
        .group_by(R.network_id, R.month)
    )


def _category_sums(network_id: int, months: list[str]) -> Select[Any]:
    return (
        select(C.network_id, C.month, C.key, func.sum(C.minutes))
        .where(C.network_id == network_id, col(C.month).in_(months))
        .group_by(C.network_id, C.month, C.key)
    )


def _refresh_months(session: Session, network_id: int, months: list[str]) -> None:
    connection = session.connection()
    M, K = NetworkMonth, NetworkMonthCategory  # noqa: N806
    for chunk in _chunks(months):
        connection.execute(delete(M).where(M.network_id == network_id, col(M.month).in_(chunk)))
        connection.execute(delete(K).where(K.network_id == network_id, col(K.month).in_(chunk)))
        month_columns = ["network_id", "month", *FIGURES]
        connection.execute(insert(M).from_select(month_columns, _month_sums(network_id, chunk)))
        cell_columns = ["network_id", "month", "key", "minutes"]
        connection.execute(insert(K).from_select(cell_columns, _category_sums(network_id, chunk)))


def _member_condition(members: list[int | None]) -> ColumnElement[bool]:
    """These members; None stands for the reports of deleted members."""
    if members == [None]:
        return col(R.member_id).is_(None)
    return col(R.member_id).in_(members)


def _refresh_member_years(
    session: Session, network_id: int, members: set[int | None], years: list[str]
) -> None:
    connection = session.connection()
    Y = NetworkMemberYear  # noqa: N806
    year = func.substr(R.month, 1, 4)
    groups: list[list[int | None]] = [[m] for m in members if m is None]
    groups += _chunks(sorted(m for m in members if m is not None))
    for chunk in groups:
        kept = col(Y.member_id).is_(None) if chunk == [None] else col(Y.member_id).in_(chunk)
        for few_years in _chunks(years):
            connection.execute(
                delete(Y).where(Y.network_id == network_id, kept, col(Y.year).in_(few_years))
            )
            sums = (
                select(R.network_id, R.member_id, year, *figures())
                .where(*counted(network_id), _member_condition(chunk), year.in_(few_years))
                .group_by(R.network_id, R.member_id, year)
            )
            columns = ["network_id", "member_id", "year", *FIGURES]
            connection.execute(insert(Y).from_select(columns, sums))


def refresh(session: Session, network_id: int, written: Iterable[tuple[int | None, str]]) -> None:
    """Rebuild the sums touched by reports of these (member id, month) (after writing them)."""
    pairs = set(written)
    if not pairs:
        return
    _lock(session, network_id)
    session.flush()
    _refresh_months(session, network_id, sorted({month for _member, month in pairs}))
    members = {member for member, _month in pairs}
    years = sorted({month[:4] for _member, month in pairs})
    _refresh_member_years(session, network_id, members, years)


def refresh_all(session: Session, network_id: int) -> None:
    """Rebuild every sum of the network (after a bulk load that bypassed save_report)."""
    query = select(R.member_id, R.month).where(R.network_id == network_id).distinct()
    refresh(session, network_id, [(member, month) for member, month in session.exec(query)])
