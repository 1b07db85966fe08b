"""A network that is a member of a wider network forwards the exact sums of its members' reports."""

import json
from datetime import timedelta

import pytest
from sqlmodel import select

from instance import report_changes
from instance.network_dashboard import Months
from instance.network_forwarding import map_cells, member_sums, network_figures
from instance.network_links import parse_mapping
from instance.network_open_data import open_data
from instance.network_reports import save_report
from instance.report_figures import OTHER, ReportFigures
from schema.db import Database
from schema.tables import (
    Association,
    NetworkLink,
    ReceivedReport,
    ReferenceCategory,
    ReportChange,
    User,
)
from schema.tables._base import utcnow
from tests.factories import make_user
from tests.network_support import add_member, add_report, make_network

MONTH = "2026-10"
WIDER = "https://nation.example/associations/national"
THEIR_KEYS = frozenset({"nature", "food", OTHER})


@pytest.fixture
def owner(db: Database) -> User:
    return make_user(db)


@pytest.fixture
def region(db: Database, owner: User) -> Association:
    return make_network(db, owner, name="Réseau régional")


def ids(db: Database, network: Association) -> dict[str, str]:
    """The network's reference category ids by key (as a mapping names them)."""
    with db.read() as session:
        rows = session.exec(
            select(ReferenceCategory).where(ReferenceCategory.network_id == network.id)
        )
        return {row.key: str(row.id) for row in rows}


def change(db: Database, report: ReceivedReport, **values: object) -> None:
    """Rewrite a stored report (as reception of an Update would) through save_report."""
    with db.write() as session:
        row = session.get(ReceivedReport, report.id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        save_report(session, row)


def figures(
    db: Database,
    network: Association,
    month: str = MONTH,
    *,
    mapping: dict[str, str] | None = None,
    threshold: int = 5,
    keys: frozenset[str] = THEIR_KEYS,
) -> ReportFigures:
    with db.read() as session:
        return network_figures(
            session,
            network=network,
            month=month,
            mapping=mapping or {},
            threshold=threshold,
            keys=keys,
        )


def world(db: Database, region: Association) -> None:
    """Four members' reports for October, and reports that must not count."""
    a, b, c = (add_member(db, region, name=name) for name in ("A", "B", "C"))
    d, e = add_member(db, region, name="Partie", status="left"), add_member(db, region, name="E")
    add_report(
        db,
        region,
        a,
        MONTH,
        minutes=600,
        actions=10,
        volunteers=6,
        valued_cents=100_01,
        categories={"formation": 400, OTHER: 200},
    )
    first = add_report(
        db, region, b, MONTH, minutes=999, actions=99, volunteers=9, categories={"formation": 999}
    )
    # B corrected its report: only the newest version counts.
    change(
        db,
        first,
        minutes=300,
        actions=5,
        volunteers=5,
        valued_cents=50_00,
        currency="EUR",
        categories=json.dumps({"formation": 100, "logistique": 200}),
    )
    add_report(db, region, c, MONTH, minutes=120, actions=2)  # totals only
    add_report(db, region, d, MONTH, minutes=5000, actions=50, volunteers=40, deleted=True)
    add_report(
        db, region, e, MONTH, minutes=7000, actions=70, volunteers=70, proof_status="bad proof"
    )
    add_report(db, region, a, "2026-09", minutes=3000, actions=30, volunteers=30)
    add_report(db, region, b, "2026-11", minutes=4000, actions=40, volunteers=40)


async def test_sums_are_exact_and_skip_what_does_not_count(
    db: Database, region: Association
) -> None:
    world(db, region)
    keys = ids(db, region)
    mapping = {keys["formation"]: "nature", keys[OTHER]: OTHER}  # logistique: unmapped
    found = figures(db, region, mapping=mapping)
    assert found == ReportFigures(
        month=MONTH,
        minutes=600 + 300 + 120,
        actions=10 + 5 + 2,
        volunteers=6 + 5,  # a person in two associations counts twice
        # logistique is unmapped, C sent totals only: both in "other".
        categories={"nature": 400 + 100, OTHER: 200 + 200 + 120},
        valued_cents=100_01 + 50_00,
        currency="EUR",
    )
    assert sum((found.categories or {}).values()) == found.minutes


async def test_unknown_keys_and_keys_they_do_not_list_go_to_other(
    db: Database, region: Association
) -> None:
    world(db, region)
    keys = ids(db, region)
    mapping = {keys["formation"]: "not-theirs", keys["logistique"]: "food", "999999": "nature"}
    assert figures(db, region, mapping=mapping).categories == {
        "food": 200,
        OTHER: 400 + 100 + 200 + 120,
    }
    assert figures(db, region).categories == {OTHER: 1020}  # nothing mapped


async def test_under_their_threshold_only_totals_are_forwarded(
    db: Database, region: Association
) -> None:
    world(db, region)
    found = figures(db, region, threshold=12)  # 11 volunteers stated
    assert (found.minutes, found.actions, found.volunteers, found.categories) == (
        1020,
        17,
        None,
        None,
    )
    assert figures(db, region, threshold=11).volunteers == 11


async def test_no_report_states_volunteers(db: Database, region: Association) -> None:
    member = add_member(db, region)
    add_report(db, region, member, MONTH, minutes=45, actions=1)
    found = figures(db, region, threshold=1)
    assert (found.minutes, found.volunteers, found.categories) == (45, None, None)


async def test_an_empty_month(db: Database, region: Association) -> None:
    world(db, region)
    found = figures(db, region, "2026-08")
    assert found.empty
    assert (found.minutes, found.actions, found.volunteers, found.categories) == (0, 0, None, None)
    assert (found.valued_cents, found.currency) == (None, None)


async def test_currencies_must_agree(db: Database, region: Association) -> None:
    a, b, c = (add_member(db, region) for _ in range(3))
    add_report(db, region, a, MONTH, minutes=60, volunteers=5, valued_cents=1000)
    add_report(db, region, c, MONTH, minutes=60, volunteers=5)  # values no time
    assert (figures(db, region).valued_cents, figures(db, region).currency) == (1000, "EUR")
    swiss = add_report(db, region, b, MONTH, minutes=60, volunteers=5, valued_cents=2000)
    assert (figures(db, region).valued_cents, figures(db, region).currency) == (3000, "EUR")
    change(db, swiss, currency="CHF")
    mixed = figures(db, region)
    assert (mixed.valued_cents, mixed.currency, mixed.minutes) == (None, None, 180)
    change(db, swiss, currency="")  # an amount without a currency cannot be added up either
    assert figures(db, region).valued_cents is None


async def test_nothing_valued(db: Database, region: Association) -> None:
    member = add_member(db, region)
    add_report(db, region, member, MONTH, minutes=60, volunteers=5)
    assert (figures(db, region).valued_cents, figures(db, region).currency) == (None, None)


async def test_forwarded_figures_are_already_public_in_the_open_data(
    db: Database, region: Association
) -> None:
    """Sums of published figures reveal nothing new: the open data states each one."""
    world(db, region)
    keys = ids(db, region)
    same = {category_id: key for key, category_id in keys.items()}
    found = figures(db, region, mapping=same, keys=frozenset(keys))
    with db.read() as session:
        public = open_data(
            session,
            network=region,
            months=Months(MONTH, MONTH),
            actor_uri="https://region.example/associations/x",
            page_url="https://region.example/networks/x",
            generated=utcnow(),
        )
    totals = public["totals"]
    assert (found.minutes, found.actions, found.volunteers) == (
        totals["minutes"],
        totals["actions"],
        totals["volunteers"],
    )
    by_key = {line["key"]: line["minutes"] for line in public["categories"] if line["minutes"]}
    not_broken_down = by_key.pop(None)  # totals-only minutes, under their own line
    by_key[OTHER] = by_key.get(OTHER, 0) + not_broken_down
    assert found.categories == by_key


def test_helpers() -> None:
    assert map_cells({"a": 5, "b": 0}, ids={"a": "1"}, mapping={"1": "x"}, keys=frozenset()) == {
        OTHER: 5
    }
    assert parse_mapping('{"1": "x", "2": 3}') == {"1": "x"}
    assert parse_mapping("[1]") == parse_mapping("{") == parse_mapping("") == {}


async def test_member_sums_ignore_other_networks(db: Database, owner: User) -> None:
    first, second = make_network(db, owner), make_network(db, owner)
    add_report(db, first, add_member(db, first), MONTH, minutes=10, volunteers=5)
    add_report(db, second, add_member(db, second), MONTH, minutes=20, volunteers=7)
    with db.read() as session:
        assert member_sums(session, network_id=first.id or 0, month=MONTH).minutes == 10
        assert member_sums(session, network_id=second.id or 0, month=MONTH).volunteers == 7


def link(db: Database, network: Association, status: str) -> None:
    with db.write() as session:
        session.add(NetworkLink(association_id=network.id or 0, network_uri=WIDER, status=status))


def changes(db: Database, network: Association) -> list[str]:
    with db.read() as session:
        query = select(ReportChange.month).where(ReportChange.association_id == network.id)
        return sorted(session.exec(query))


async def test_a_saved_report_notes_the_month_when_the_network_is_a_member(
    db: Database, region: Association, owner: User
) -> None:
    link(db, region, "active")
    member = add_member(db, region)
    report = add_report(db, region, member, MONTH, minutes=60, volunteers=5)
    assert changes(db, region) == [MONTH]
    change(db, report, deleted=True, updated=report.updated + timedelta(days=1))
    assert changes(db, region) == [MONTH, MONTH]
    alone = make_network(db, owner)
    add_report(db, alone, add_member(db, alone), MONTH, minutes=60, volunteers=5)
    assert changes(db, alone) == []
    waiting = make_network(db, owner)
    link(db, waiting, "pending")
    add_report(db, waiting, add_member(db, waiting), MONTH, minutes=60, volunteers=5)
    assert changes(db, waiting) == []


async def test_joining_a_wider_network_notes_every_month_received(
    db: Database, region: Association
) -> None:
    member = add_member(db, region)
    add_report(db, region, member, "2026-09", minutes=60, volunteers=5)
    add_report(db, region, member, MONTH, minutes=60, volunteers=5)
    link(db, region, "active")
    with db.write() as session:
        assert report_changes.mark_all(session, association_id=region.id or 0) == 2
    assert changes(db, region) == ["2026-09", MONTH]
