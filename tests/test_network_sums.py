"""A network's kept sums stay equal to the sums of its reports, whatever is written."""

import json
import random

from sqlmodel import select

from instance import network_dashboard
from instance.network_dashboard import Months
from instance.network_reports import categories_of, counts, network_keys, save_report
from instance.network_sums import CURRENCY, FIGURES, refresh_all
from schema.db import Database
from schema.tables import (
    Association,
    NetworkMember,
    NetworkMemberYear,
    NetworkMonth,
    NetworkMonthCategory,
    ReceivedReport,
)
from tests.factories import make_user
from tests.network_support import add_member, add_report, make_network

Lines = dict[str, tuple[int, ...]]
Cells = dict[tuple[str, str], int]
Years = dict[tuple[int | None, str], tuple[int, ...]]


def figures_of(reports: list[ReceivedReport]) -> tuple[int | None, ...]:
    """minutes, actions, valued cents (None: none in euros), volunteers, stated,
    totals-only minutes and reports, worked out in Python."""
    valued = [
        r.valued_cents for r in reports if r.currency == CURRENCY and r.valued_cents is not None
    ]
    return (
        sum(r.minutes for r in reports),
        sum(r.actions for r in reports),
        sum(valued) if valued else None,
        sum(r.volunteers or 0 for r in reports),
        sum(1 for r in reports if r.volunteers is not None),
        sum(r.minutes for r in reports if r.volunteers is None),
        len(reports),
    )


def counted_reports(db: Database, network: Association) -> list[ReceivedReport]:
    with db.read() as session:
        query = select(ReceivedReport).where(ReceivedReport.network_id == network.id)
        return [report for report in session.exec(query) if counts(report)]


def expected(db: Database, network: Association) -> tuple[Lines, Cells, Years]:
    """The sums worked out in Python from every report of the network."""
    reports = counted_reports(db, network)
    with db.read() as session:
        known_keys = network_keys(session, network.id or 0)
    months: dict[str, list[ReceivedReport]] = {}
    years: dict[tuple[int | None, str], list[ReceivedReport]] = {}
    cells: Cells = {}
    for report in reports:
        months.setdefault(report.month, []).append(report)
        years.setdefault((report.member_id, report.month[:4]), []).append(report)
        if report.volunteers is not None:
            for key, minutes in categories_of(report).items():
                known = key if key in known_keys else "other"
                cells[(report.month, known)] = cells.get((report.month, known), 0) + minutes
    return (
        {month: figures_of(found) for month, found in months.items()},
        cells,
        {key: figures_of(found) for key, found in years.items()},
    )


def kept_figures(row: NetworkMonth | NetworkMemberYear) -> tuple[int | None, ...]:
    """A kept row's figures, in the order of figures_of."""
    return tuple(getattr(row, name) for name in FIGURES)


def stored(db: Database, network: Association) -> tuple[Lines, Cells, Years]:
    """The sums the network keeps."""
    with db.read() as session:
        months = {
            row.month: kept_figures(row)
            for row in session.exec(
                select(NetworkMonth).where(NetworkMonth.network_id == network.id)
            )
        }
        cells = {
            (row.month, row.key): row.minutes
            for row in session.exec(
                select(NetworkMonthCategory).where(NetworkMonthCategory.network_id == network.id)
            )
        }
        years = {}
        for row in session.exec(
            select(NetworkMemberYear).where(NetworkMemberYear.network_id == network.id)
        ):
            assert (row.member_id, row.year) not in years, "one row per member and year"
            years[(row.member_id, row.year)] = kept_figures(row)
    return months, cells, years


def member_sums_in_python(
    reports: list[ReceivedReport], first: str, last: str
) -> dict[int | None, tuple[int | None, ...]]:
    found: dict[int | None, list[ReceivedReport]] = {}
    for report in reports:
        if first <= report.month <= last:
            found.setdefault(report.member_id, []).append(report)
    return {key: figures_of(part) for key, part in found.items()}


def member_sums_kept(
    db: Database, network: Association, first: str, last: str
) -> dict[int | None, tuple[int | None, ...]]:
    with db.read() as session:
        sums = network_dashboard.member_sums(session, network.id or 0, Months(first, last))
    return {
        key: (
            line.minutes,
            line.actions,
            line.valued_cents,
            line.volunteers,
            line.reports - line.hidden,
            line.totals_only_minutes,
            line.reports,
        )
        for key, line in sums.items()
    }


def test_every_write_keeps_the_sums_exact(db: Database) -> None:
    network = make_network(db, make_user(db))
    members = [add_member(db, network, name=f"Asso {n}") for n in range(4)]
    rng = random.Random(3)
    reports: list[ReceivedReport] = []
    free = [
        (member, f"{year}-{month:02d}")
        for member in members
        for year in (2023, 2024, 2025)
        for month in range(1, 13)
    ]
    rng.shuffle(free)
    for step in range(60):
        choice = rng.random()
        if choice < 0.5 or not reports:
            volunteers = rng.choice([None, 2, 5, 9])
            member, month = free.pop()  # one report per member and month (its stable id)
            reports.append(
                add_report(
                    db,
                    network,
                    member,
                    month,
                    minutes=rng.randint(1, 900),
                    actions=rng.randint(1, 9),
                    volunteers=volunteers,
                    valued_cents=rng.choice([None, rng.randint(0, 90000)]),
                    categories=(
                        {"formation": 30, "logistique": 40, "unknown-key": 5} if volunteers else {}
                    ),
                    proof_status=rng.choice(["verified", "verified", "invalid signature"]),
                )
            )
        else:
            with db.write() as session:
                row = session.get(ReceivedReport, rng.choice(reports).id)
                assert row is not None
                if choice < 0.7:
                    row.deleted = True
                elif choice < 0.8:
                    row.proof_status = "verified" if row.proof_status != "verified" else "revoked"
                elif choice < 0.9:
                    row.currency = "CHF"
                else:
                    row.minutes, row.volunteers = row.minutes + 1, None  # an Update: totals only
                save_report(session, row)
        assert stored(db, network) == expected(db, network), f"step {step}"
    months, cells, years = stored(db, network)
    assert months and cells and len({year for _member, year in years}) == 3
    assert any(key == "other" for _month, key in cells)  # the unknown key went to "other"
    assert any(key == "formation" for _month, key in cells)  # a listed key kept its own


def test_bulk_rows_are_summed_once_by_refresh_all(db: Database) -> None:
    network = make_network(db, make_user(db))
    member = add_member(db, network)
    add_report(db, network, member, "2024-01", minutes=10, volunteers=7, categories={"other": 10})
    with db.write() as session:  # rows written around save_report, as the benchmark seeds them
        session.add(
            ReceivedReport(
                object_id="https://asso.example/r/bulk",
                network_id=network.id or 0,
                member_id=member.id,
                issuer_uri=member.actor_uri,
                month="2024-02",
                minutes=20,
                updated=member.created_at,
                body=json.dumps({}),
            )
        )
    assert "2024-02" not in stored(db, network)[0]
    with db.write() as session:
        refresh_all(session, network.id or 0)
    assert stored(db, network) == expected(db, network)
    assert stored(db, network)[0]["2024-02"] == (20, 0, None, 0, 0, 20, 1)
    assert stored(db, network)[2][(member.id, "2024")] == (30, 1, None, 7, 1, 20, 2)


def test_sums_by_member_over_any_months(db: Database) -> None:
    """Whole years from the kept sums, the rest from the reports: same as summing reports."""
    network = make_network(db, make_user(db))
    members = [add_member(db, network, name=f"Asso {n}") for n in range(3)]
    rng = random.Random(8)
    for member in members:
        for year in (2022, 2023, 2024):
            for month in rng.sample(range(1, 13), 7):  # some months without a report
                add_report(
                    db,
                    network,
                    member,
                    f"{year}-{month:02d}",
                    minutes=rng.randint(1, 600),
                    volunteers=rng.choice([None, 6]),
                    valued_cents=rng.choice([None, 500]),
                    proof_status=rng.choice(["verified"] * 4 + ["bad proof"]),
                )
    reports = counted_reports(db, network)
    all_months = [f"{year}-{month:02d}" for year in range(2021, 2026) for month in range(1, 13)]
    ranges = [("2022-01", "2024-12"), ("2021-06", "2025-03"), ("2023-01", "2023-12")]
    ranges += [("2024-02", "2024-01"), ("2022-05", "2022-05")]
    for _ in range(40):
        first, last = sorted(rng.sample(all_months, 2))
        ranges.append((first, last))
    for first, last in ranges:
        assert member_sums_kept(db, network, first, last) == member_sums_in_python(
            reports, first, last
        ), (first, last)
    with db.read() as session:  # a covered year is read whole, a cut year month by month
        whole, parts = network_dashboard.split_years(
            session, network.id or 0, Months("2022-03", "2024-12")
        )
    cut = 3 in {int(r.month[5:]) for r in reports if r.month[:4] == "2022"} or 4 in {
        int(r.month[5:]) for r in reports if r.month[:4] == "2022"
    }
    assert whole == (["2023", "2024"] if cut else ["2022", "2023", "2024"])


def test_deleted_members_are_summed_as_former_members(db: Database) -> None:
    network = make_network(db, make_user(db))
    kept, gone, also_gone = (add_member(db, network, name=f"Asso {n}") for n in range(3))
    add_report(db, network, kept, "2024-01", minutes=10)
    add_report(db, network, gone, "2024-01", minutes=20)
    last = add_report(db, network, also_gone, "2024-02", minutes=40)
    with db.write() as session:
        for member in (gone, also_gone):
            session.delete(session.get(NetworkMember, member.id))
    assert member_sums_kept(db, network, "2024-01", "2024-12")[None][0] == 60
    with db.write() as session:  # a former member erases a report: the sums follow
        row = session.get(ReceivedReport, last.id)
        assert row is not None and row.member_id is None
        row.deleted = True
        save_report(session, row)
    assert stored(db, network) == expected(db, network)
    assert member_sums_kept(db, network, "2024-01", "2024-12") == {
        kept.id: (10, 1, None, 0, 0, 10, 1),
        None: (20, 1, None, 0, 0, 20, 1),
    }
