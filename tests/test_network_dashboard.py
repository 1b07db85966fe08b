"""A network's dashboard, its downloads and its open data: exact sums of report fields."""

import csv
import io
import json
import random
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from sqlmodel import select

from instance import network_dashboard
from instance.errors import Invalid
from instance.network_dashboard import Months
from instance.network_privacy import Cell
from instance.network_reports import categories_of, counts, save_report
from schema.db import Database
from schema.tables import Association, NetworkMember, ReceivedReport, User
from tests.factories import api_token, make_membership, make_user
from tests.network_support import add_member, add_report, at, make_network, protected_report

PERIOD = "from=2024-01&to=2024-03"


@pytest.fixture
def owner(db: Database) -> User:
    return make_user(db)


@pytest.fixture
def network(db: Database, owner: User) -> Association:
    return make_network(db, owner, name="Réseau des jardins")


@pytest.fixture
async def headers(client: httpx.AsyncClient, owner: User) -> dict[str, str]:
    return await api_token(client, owner)


class World:
    """Five members and their reports over the first quarter of 2024 (and around it)."""

    def __init__(self, db: Database, network: Association) -> None:
        self.a = add_member(db, network, name="Les Amis", host="amis.example")
        self.b = add_member(db, network, name="Secret", host="secret.example", anonymous=True)
        self.c = add_member(db, network, name="Partis", host="partis.example", status="left")
        self.d = add_member(db, network, name="Douteux", host="douteux.example")
        self.e = add_member(db, network, name="Silencieux", host="silence.example")
        self.reports = [
            add_report(
                db,
                network,
                self.a,
                "2024-01",
                minutes=600,
                actions=10,
                volunteers=8,
                valued_cents=12000,
                categories={"formation": 400, "other": 200},
                received_at=at(60),
            ),
            add_report(db, network, self.a, "2024-02", minutes=300, actions=5, received_at=at(30)),
            add_report(
                db,
                network,
                self.b,
                "2024-01",
                minutes=1000,
                actions=20,
                volunteers=12,
                valued_cents=5000,
                categories={"logistique": 700, "accueil-animation": 300},
                received_at=at(50),
            ),
            add_report(
                db,
                network,
                self.b,
                "2024-03",
                minutes=200,
                actions=2,
                volunteers=6,
                categories={"logistique": 200},
                received_at=at(3),
            ),
            add_report(
                db,
                network,
                self.b,
                "2023-12",
                minutes=999,
                actions=9,
                volunteers=6,
                categories={"logistique": 999},
                received_at=at(70),
            ),
            add_report(db, network, self.c, "2024-02", minutes=100, actions=1, received_at=at(20)),
            add_report(
                db,
                network,
                self.d,
                "2024-01",
                minutes=50,
                actions=1,
                volunteers=5,
                categories={"formation": 50},
                proof_status="invalid signature",
                received_at=at(1),
            ),
            add_report(
                db,
                network,
                self.a,
                "2024-03",
                minutes=7777,
                actions=77,
                volunteers=9,
                categories={"formation": 7777},
                deleted=True,
                received_at=at(0),
            ),
        ]


@pytest.fixture
def world(db: Database, network: Association) -> World:
    return World(db, network)


async def get(
    client: httpx.AsyncClient, network: Association, query: str, headers: dict[str, str]
) -> dict[str, Any]:
    answer = await client.get(f"/api/v1/networks/{network.slug}/dashboard?{query}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


# Sums


async def test_totals_and_months(
    client: httpx.AsyncClient, network: Association, world: World, headers: dict[str, str]
) -> None:
    body = await get(client, network, PERIOD, headers)
    assert body["from"] == "2024-01" and body["to"] == "2024-03" and body["group_by"] == "month"
    assert body["total_minutes"] == 2200
    assert body["total_actions"] == 38
    assert body["valued_amount"] == "170.00"
    assert body["currency"] == "EUR"
    assert body["volunteers"] == 26
    assert body["volunteers_hidden"] == 2
    assert body["totals_only_minutes"] == 400
    assert body["reports"] == 5
    assert body["members"] == 4  # active: A, B, D, E
    assert body["flagged"] == 1
    months = {g["key"]: g for g in body["groups"]}
    assert list(months) == ["2024-01", "2024-02", "2024-03"]
    assert months["2024-01"] == {
        "key": "2024-01",
        "label": "2024-01",
        "minutes": 1600,
        "actions": 30,
        "valued_amount": "170.00",
        "volunteers": 20,
        "volunteers_hidden": 0,
        "reports": 2,
    }
    assert (months["2024-02"]["valued_amount"], months["2024-02"]["volunteers_hidden"]) == (None, 2)
    assert months["2024-03"]["minutes"] == 200


async def test_by_member(
    client: httpx.AsyncClient, network: Association, world: World, headers: dict[str, str]
) -> None:
    body = await get(client, network, PERIOD + "&group_by=member", headers)
    assert [(g["label"], g["minutes"], g["reports"], g["anonymous"]) for g in body["groups"]] == [
        ("Secret", 1200, 2, True),  # managers see who their members are
        ("Les Amis", 900, 2, False),
        ("Partis", 100, 1, False),
    ]
    assert body["total_minutes"] == 2200


async def test_by_category(
    client: httpx.AsyncClient, network: Association, world: World, headers: dict[str, str]
) -> None:
    body = await get(client, network, PERIOD + "&group_by=category", headers)
    groups = [(g["key"], g["label"], g["minutes"], g["actions"]) for g in body["groups"]]
    assert groups == [
        ("accueil-animation", "Accueil et animation", 300, None),
        ("administration-gestion", "Administration et gestion", 0, None),
        ("collecte-distribution", "Collecte et distribution", 0, None),
        ("formation", "Formation", 400, None),
        ("logistique", "Logistique", 900, None),
        ("communication", "Communication", 0, None),
        ("other", "Autre", 200, None),
        (None, "Not broken down (associations under the threshold)", 400, None),
    ]
    assert sum(g["minutes"] for g in body["groups"]) == body["total_minutes"] == 2200


async def test_freshness_and_flags(
    client: httpx.AsyncClient, network: Association, world: World, headers: dict[str, str]
) -> None:
    body = await get(client, network, PERIOD, headers)
    fresh = {line["name"]: line for line in body["freshness"]}
    assert list(fresh) == ["Douteux", "Les Amis", "Secret", "Silencieux"]
    assert fresh["Douteux"]["flagged"] is True
    assert fresh["Douteux"]["proof_status"] == "invalid signature"
    # The deleted report of A is not its latest: the February one is.
    assert (fresh["Les Amis"]["latest_month"], fresh["Les Amis"]["flagged"]) == ("2024-02", False)
    assert fresh["Secret"]["latest_month"] == "2024-03"
    assert fresh["Secret"]["received_at"] == world.reports[3].received_at.isoformat()
    assert fresh["Silencieux"] == {
        "member_id": world.e.id,
        "name": "Silencieux",
        "anonymous": False,
        "host": "silence.example",
        "latest_month": None,
        "received_at": None,
        "updated": None,
        "proof_status": None,
        "flagged": False,
    }


async def test_an_update_replaces_and_a_delete_removes(
    db: Database,
    client: httpx.AsyncClient,
    network: Association,
    world: World,
    headers: dict[str, str],
) -> None:
    with db.write() as session:
        report = session.get(ReceivedReport, world.reports[2].id)
        assert report is not None
        report.minutes, report.categories = (
            1100,
            json.dumps({"logistique": 800, "accueil-animation": 300}),
        )
        save_report(session, report)
    body = await get(client, network, PERIOD + "&group_by=category", headers)
    assert body["total_minutes"] == 2300
    assert next(g for g in body["groups"] if g["key"] == "logistique")["minutes"] == 1000
    with db.write() as session:
        report = session.get(ReceivedReport, world.reports[2].id)
        assert report is not None
        report.deleted = True
        save_report(session, report)
    body = await get(client, network, PERIOD + "&group_by=category", headers)
    assert body["total_minutes"] == 1200
    assert next(g for g in body["groups"] if g["key"] == "logistique")["minutes"] == 200


async def test_an_empty_network(
    client: httpx.AsyncClient, network: Association, headers: dict[str, str]
) -> None:
    body = await get(client, network, "", headers)
    assert (body["total_minutes"], body["valued_amount"], body["groups"], body["freshness"]) == (
        0,
        None,
        [],
        [],
    )
    categories = await get(client, network, "group_by=category", headers)
    assert all(g["minutes"] == 0 for g in categories["groups"]) and len(categories["groups"]) == 7


# Periods


@pytest.mark.parametrize(
    ("query", "first", "last"),
    [
        ("from=2024-01&to=2024-03", "2024-01", "2024-03"),
        ("from=2024-01-15&to=2024-03-02", "2024-01", "2024-03"),
        ("from=2024-02", "2024-02", None),
        ("preset=last_year", None, None),
        ("", None, None),
    ],
)
def test_months_read_like_other_statistics(query: str, first: str | None, last: str | None) -> None:
    params = dict(part.split("=") for part in query.split("&") if part)
    today = date(2025, 6, 10)
    months = network_dashboard.read_months(
        today=today, preset=params.get("preset"), start=params.get("from"), end=params.get("to")
    )
    if query == "preset=last_year":
        assert months == Months("2024-01", "2024-12")
    elif not query:
        assert months == Months("2025-01", "2025-12")
    else:
        assert months.first == first
        assert months.last == (last or "2025-06")


@pytest.mark.parametrize(
    "query",
    [
        "from=2024-13",
        "from=yesterday",
        "from=2024-03&to=2024-01",
        "to=2024-02-30",
        "preset=forever",
        "group_by=volunteer",
        "group_by=%3Cscript%3E",
        "from=" + "9" * 30,
    ],
)
async def test_bad_queries(
    client: httpx.AsyncClient, network: Association, headers: dict[str, str], query: str
) -> None:
    answer = await client.get(f"/api/v1/networks/{network.slug}/dashboard?{query}", headers=headers)
    assert answer.status_code == 422
    assert "<script>" not in answer.text


def test_check_group_by() -> None:
    assert network_dashboard.check_group_by(None) == "month"
    with pytest.raises(Invalid):
        network_dashboard.check_group_by("year")


# Who may see it


async def test_who_sees_the_dashboard(
    db: Database, client: httpx.AsyncClient, owner: User, network: Association
) -> None:
    path = f"/api/v1/networks/{network.slug}/dashboard"
    assert (await client.get(path)).status_code == 401
    outsider = await api_token(client, make_user(db))
    assert (await client.get(path, headers=outsider)).status_code == 403
    for kw, status in (
        ({}, 403),
        ({"role": "manager", "perm_manage_members": True, "perm_manage_settings": True}, 403),
        ({"status": "pending"}, 403),
        ({"role": "manager", "perm_view_actions": True}, 200),
    ):
        person = make_user(db)
        make_membership(db, network, person, **kw)
        token = await api_token(client, person)
        assert (await client.get(path, headers=token)).status_code == status, kw
        assert (await client.get(path + ".csv", headers=token)).status_code == status, kw
    hidden = make_network(db, owner, is_hidden=True)
    hidden_path = f"/api/v1/networks/{hidden.slug}/dashboard"
    assert (await client.get(hidden_path, headers=outsider)).status_code == 404
    assert (await client.get(hidden_path + ".csv", headers=outsider)).status_code == 404


# Downloads


async def test_csv_download(
    client: httpx.AsyncClient, network: Association, world: World, headers: dict[str, str]
) -> None:
    answer = await client.get(
        f"/api/v1/networks/{network.slug}/dashboard.csv?{PERIOD}&group_by=member", headers=headers
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert (
        f"{network.slug}-network-member-2024-01-2024-03.csv"
        in answer.headers["content-disposition"]
    )
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "Member",
        "Minutes",
        "Duration (hours, decimal)",
        "Actions",
        "Valued amount (EUR)",
        "Volunteers (where reported)",
        "Reports without a volunteer count",
        "Reports",
    ]
    assert rows[1] == ["Secret", "1200", "20.00", "22", "50.00", "18", "0", "2"]
    assert rows[-1] == ["Total", "2200", "36.67", "38", "170.00", "26", "2", "5"]


async def test_json_xlsx_and_ods_downloads(
    client: httpx.AsyncClient, network: Association, world: World, headers: dict[str, str]
) -> None:
    base = f"/api/v1/networks/{network.slug}/dashboard"
    found = (await client.get(f"{base}.json?{PERIOD}&group_by=category", headers=headers)).json()
    assert found["meta"]["group_by"] == "category"
    assert found["meta"]["threshold"] == 5
    assert found["rows"][0] == {
        "group": "Accueil et animation",
        "minutes": 300,
        "hours": "5.00",
        "actions": None,
        "valued_amount": None,
        "volunteers": None,
        "volunteers_hidden": None,
        "reports": None,
    }
    assert found["rows"][-1]["minutes"] == 2200
    xlsx = await client.get(f"{base}.xlsx?{PERIOD}", headers=headers)
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    sheet = book[book.sheetnames[0]]
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][0] == "Month" and values[-1][:2] == ["Total", 2200]
    ods = await client.get(f"{base}.ods?{PERIOD}", headers=headers)
    assert ods.status_code == 200 and ods.content[:2] == b"PK"
    assert (await client.get(f"{base}.pdf", headers=headers)).status_code == 404


# Open data


async def test_open_data_is_public_and_names_no_anonymous_member(
    db: Database,
    client: httpx.AsyncClient,
    network: Association,
    world: World,
    headers: dict[str, str],
) -> None:
    await client.patch(
        f"/api/v1/networks/{network.slug}",
        json={"licence": "CC-BY-4.0", "threshold": 6},
        headers=headers,
    )
    answer = await client.get(f"/api/v1/networks/{network.slug}/open-data.json")
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    body = answer.json()
    assert body["format"] == "benefed-network-open-data/1"
    assert body["licence"] == {
        "id": "CC-BY-4.0",
        "name": "Creative Commons Attribution 4.0 International (CC BY 4.0)",
        "url": "https://creativecommons.org/licenses/by/4.0/",
    }
    assert body["network"] == {
        "name": "Réseau des jardins",
        "actor": f"http://testserver/associations/{network.slug}",
        "url": f"http://testserver/associations/{network.slug}/network",
    }
    assert body["threshold"] == 6
    assert body["from"] == "2000-01"
    assert body["totals"]["minutes"] == 2200 + 999
    assert [m["month"] for m in body["months"]] == ["2023-12", "2024-01", "2024-02", "2024-03"]
    assert {c["key"]: c["minutes"] for c in body["categories"]}["logistique"] == 1899
    members = body["members"]
    assert [m["name"] for m in members] == ["Douteux", "Les Amis", "Partis", "Silencieux", None]
    secret = members[-1]
    assert secret == {
        "name": None,
        "anonymous": True,
        "host": None,
        "actor": None,
        "is_network": False,
        "status": "active",
        "minutes": 2199,
        "actions": 31,
        "valued_amount": "50.00",
        "reports": 3,
    }
    assert "Secret" not in answer.text and "secret.example" not in answer.text
    assert set(members[1]) == set(secret)  # totals only: no breakdown, no volunteers
    ranged = (await client.get(f"/api/v1/networks/{network.slug}/open-data.json?{PERIOD}")).json()
    assert ranged["totals"]["minutes"] == 2200


async def test_open_data_of_hidden_or_plain_associations(
    db: Database, client: httpx.AsyncClient, owner: User, headers: dict[str, str]
) -> None:
    hidden = make_network(db, owner, is_hidden=True)
    answer = await client.get(f"/api/v1/networks/{hidden.slug}/open-data.json", headers=headers)
    assert answer.status_code == 404  # public data: the owner's token does not reveal it either
    bad = await client.get(f"/api/v1/networks/{hidden.slug}/open-data.json?from=nope")
    assert bad.status_code == 404


# Privacy: every published number is a sum of report fields


def volunteer_cells(rng: random.Random, people: int, keys: list[str]) -> list[Cell]:
    """A month of an association with `people` volunteers spread over a few categories."""
    chosen: dict[str, set[int]] = {}
    minutes: dict[str, int] = {}
    for person in range(people):
        for key in rng.sample(keys, rng.randint(1, 3)):
            chosen.setdefault(key, set()).add(person)
            minutes[key] = minutes.get(key, 0) + rng.randint(1, 600)
    return [Cell(key, minutes[key], frozenset(chosen[key])) for key in chosen]


def reports_of(db: Database, network: Association) -> list[ReceivedReport]:
    with db.read() as session:
        query = select(ReceivedReport).where(ReceivedReport.network_id == network.id)
        return list(session.exec(query).all())


def sum_of(
    reports: list[ReceivedReport],
    value: Callable[[ReceivedReport], int | None],
    keep: Callable[[ReceivedReport], bool],
) -> int:
    return sum(value(r) or 0 for r in reports if counts(r) and keep(r))


async def test_every_published_number_is_a_sum_of_report_fields(
    db: Database, client: httpx.AsyncClient, network: Association, headers: dict[str, str]
) -> None:
    rng = random.Random(6)
    keys = ["accueil-animation", "formation", "logistique", "communication", "other"]
    members: list[NetworkMember] = []
    for people in range(1, 7):
        member = add_member(db, network, name=f"Asso {people}", anonymous=people % 2 == 0)
        members.append(member)
        for month in range(1, 13):
            cells = volunteer_cells(rng, people, keys)
            report, breakdown = protected_report(
                db,
                network,
                member,
                f"2024-{month:02d}",
                cells,
                actions=people * month,
                valued_cents=people * 1000 + month,
            )
            if people < 5:
                assert report.volunteers is None and categories_of(report) == {}
            assert sum(categories_of(report).values()) in {0, report.minutes}
    reports = reports_of(db, network)
    assert len(reports) == 72
    query = "from=2024-01&to=2024-12"
    by_month = await get(client, network, query, headers)
    for group in by_month["groups"]:
        same = lambda r, key=group["key"]: r.month == key  # noqa: E731
        assert group["minutes"] == sum_of(reports, lambda r: r.minutes, same)
        assert group["actions"] == sum_of(reports, lambda r: r.actions, same)
        assert group["volunteers"] == sum_of(reports, lambda r: r.volunteers, same)
        assert group["volunteers_hidden"] == sum_of(reports, lambda r: r.volunteers is None, same)
        cents = sum_of(reports, lambda r: r.valued_cents, same)
        assert group["valued_amount"] == f"{cents // 100}.{cents % 100:02d}"
    by_member = await get(client, network, query + "&group_by=member", headers)
    for group in by_member["groups"]:
        same = lambda r, key=group["key"]: r.member_id == key  # noqa: E731
        assert group["minutes"] == sum_of(reports, lambda r: r.minutes, same)
        assert group["volunteers"] == sum_of(reports, lambda r: r.volunteers, same)
    by_category = await get(client, network, query + "&group_by=category", headers)
    for group in by_category["groups"]:
        if group["key"] is None:
            expected = sum_of(reports, lambda r: r.minutes, lambda r: r.volunteers is None)
        else:
            expected = sum_of(
                reports, lambda r, k=group["key"]: categories_of(r).get(k, 0), lambda r: True
            )
        assert group["minutes"] == expected, group
    # Members under the threshold add nothing to any category: only to the totals-only line.
    small = {m.id for m in members[:4]}
    assert all(not categories_of(r) for r in reports if r.member_id in small)
    opened = (await client.get(f"/api/v1/networks/{network.slug}/open-data.json?{query}")).json()
    assert opened["totals"]["minutes"] == by_month["total_minutes"]
    assert [c["minutes"] for c in opened["categories"]] == [
        g["minutes"] for g in by_category["groups"]
    ]
    for line in opened["members"]:
        assert set(line) >= {"minutes", "actions", "valued_amount", "reports"}
        assert "volunteers" not in line and "categories" not in line
        matching = [g for g in by_member["groups"] if g["minutes"] == line["minutes"]]
        assert matching, line
    assert sorted(m["minutes"] for m in opened["members"]) == sorted(
        g["minutes"] for g in by_member["groups"]
    )
