"""Everything a network publishes is a sum of what its members' reports state.

For associations of 1 to 6 volunteers, a year of random months is protected,
stored as the network would receive it, and then every figure the network
shows or publishes (its dashboard by month, member and category, over each
month and over the year, and its open data) is compared with the sum of the
matching figures of the stored reports. Each published figure being such a
sum, it adds no equation beyond the reports' own: the linear-algebra test of
tests/test_network_privacy.py (no hidden cell in the span of the published
ones) then covers the dashboard and the open data too, and is run here again
on the stored reports themselves.
"""

import json
import random
from datetime import UTC, datetime
from fractions import Fraction

import pytest
from sqlmodel import select

from instance import network_dashboard, network_open_data
from instance.network_privacy import OTHER, protect
from schema.db import Database
from schema.tables import Association, NetworkMember, ReceivedReport, ReferenceCategory
from tests.factories import make_association, make_user
from tests.network_support import add_report
from tests.test_network_privacy import (
    CATEGORIES,
    THRESHOLD,
    _in_span,
    _published_equations,
    _random_year,
)

YEAR = 2025
MONTHS = [f"{YEAR}-{month:02d}" for month in range(1, 13)]


def _network(db: Database) -> tuple[Association, NetworkMember]:
    """A network whose reference categories are the test's, with one active member."""
    owner = make_user(db)
    network = make_association(db, owner, name="Réseau", slug="reseau", is_network=True)
    with db.write() as session:
        known = {
            row.key
            for row in session.exec(
                select(ReferenceCategory).where(ReferenceCategory.network_id == network.id)
            )
        }
        for position, key in enumerate(CATEGORIES):
            if key not in known:
                session.add(
                    ReferenceCategory(
                        network_id=network.id or 0, key=key, label=key, position=position
                    )
                )
        member = NetworkMember(
            network_id=network.id or 0,
            actor_uri="https://asso.example/associations/petite",
            name="Petite association",
            status="active",
        )
        session.add(member)
    return network, member


def _store_year(db: Database, network: Association, member: NetworkMember, year: list) -> None:
    """Each month as the member reports it: protected, exact totals."""
    for month, cells in zip(MONTHS, year, strict=True):
        if not cells:
            continue
        published = protect(cells, THRESHOLD)
        categories = None
        if published.has_breakdown:
            categories = {str(key): minutes for key, minutes in published.shown.items()}
            if published.other_minutes:
                categories[OTHER] = published.other_minutes
        add_report(
            db,
            network,
            member,
            month,
            minutes=published.total_minutes,
            actions=len(cells),
            volunteers=published.volunteers,
            categories=categories,
            received_at=datetime(YEAR, 12, 31, tzinfo=UTC),
        )


def _reports(db: Database, network: Association) -> dict[str, ReceivedReport]:
    with db.read() as session:
        query = select(ReceivedReport).where(
            ReceivedReport.network_id == network.id,
            ReceivedReport.deleted == False,  # noqa: E712
        )
        rows = session.exec(query)
        return {row.month: row for row in rows}


def _expected(reports: list[ReceivedReport]) -> dict[object, int]:
    """What a range must show: minutes by category key (None: totals only), and the total."""
    found: dict[object, int] = {"total": 0}
    for report in reports:
        found["total"] += report.minutes
        categories = json.loads(report.categories)
        if report.volunteers is None or not categories:
            found[None] = found.get(None, 0) + report.minutes
        for key, minutes in categories.items():
            found[key] = found.get(key, 0) + minutes
    return found


def _shown(db: Database, network: Association, first: str, last: str) -> dict[object, int]:
    """What the dashboard shows over the months: by category, with the total, checked by month and member."""
    months = network_dashboard.Months(first, last)
    with db.read() as session:
        by_category = network_dashboard.dashboard(
            session, network=network, months=months, group_by="category"
        )
        by_month = network_dashboard.dashboard(session, network=network, months=months)
        by_member = network_dashboard.dashboard(
            session, network=network, months=months, group_by="member"
        )
    assert by_month.total.minutes == by_member.total.minutes == by_category.total.minutes
    assert [group.sums.minutes for group in by_member.groups if group.sums.minutes] in (
        [by_month.total.minutes],
        [],
    )
    shown: dict[object, int] = {"total": by_month.total.minutes}
    shown |= {group.key: group.sums.minutes for group in by_category.groups if group.sums.minutes}
    return shown


@pytest.mark.parametrize("volunteers", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("seed", range(3))
def test_the_dashboard_and_open_data_publish_only_sums_of_reports(
    db: Database, volunteers: int, seed: int
) -> None:
    year = _random_year(random.Random(seed * 10 + volunteers), volunteers)
    network, member = _network(db)
    _store_year(db, network, member, year)
    reports = _reports(db, network)
    assert reports, "a year with no report tests nothing"
    for month in MONTHS:  # each month on its own
        expected = _expected([reports[month]] if month in reports else [])
        assert _shown(db, network, month, month) == {
            k: v for k, v in expected.items() if v or k == "total"
        }
    whole = _expected(list(reports.values()))
    assert _shown(db, network, MONTHS[0], MONTHS[-1]) == {
        k: v for k, v in whole.items() if v or k == "total"
    }
    with db.read() as session:
        document = network_open_data.open_data(
            session,
            network=network,
            months=network_dashboard.Months(MONTHS[0], MONTHS[-1]),
            actor_uri="https://reseau.example/associations/reseau",
            page_url="https://reseau.example/associations/reseau",
            generated=datetime(YEAR + 1, 1, 1, tzinfo=UTC),
        )
    assert document["totals"]["minutes"] == whole["total"]
    assert {m["month"]: m["minutes"] for m in document["months"] if m["minutes"]} == {
        month: report.minutes for month, report in reports.items() if report.minutes
    }
    published = {c["key"]: c["minutes"] for c in document["categories"] if c["minutes"]}
    assert published == {k: v for k, v in whole.items() if k != "total" and v}
    # No hidden cell in the span of what the reports state (the dashboard adds nothing).
    rows, hidden = _published_equations(year)
    for cell in hidden:
        unit = [Fraction(0)] * len(rows[0])
        unit[cell] = Fraction(1)
        assert not _in_span(rows, unit), f"cell {cell} can be worked out"
