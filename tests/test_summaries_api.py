"""The summary, hours and accounting endpoints."""

from datetime import date

import httpx
import pytest

from instance import accounting
from schema.db import Database
from tests.test_actions_support import (
    World,
    days_ago,
    decide,
    headers_for,
    make_world,
    quick_user,
    record,
    today,
)


@pytest.fixture
def world(db: Database) -> World:
    return make_world(db, default_hourly_rate_cents=1200, travel_time_policy="separate")


def summary_path(world: World) -> str:
    return f"/api/v1/associations/{world.association.slug}/summary"


async def test_the_association_summary(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    record(db, world, minutes=90, travel_minutes=20)
    record(db, world, user=world.other, minutes=30, category_id=world.categories[1].id)
    response = await client.get(
        summary_path(world),
        params={"preset": "this_year", "group_by": "category"},
        headers=headers_for(db, world.viewer),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert {"total_minutes", "actions", "volunteers", "valued_amount", "pending_minutes",
            "pending_actions", "travel_minutes", "from", "to", "groups", "valuation"} <= set(body)  # fmt: skip
    assert (body["total_minutes"], body["actions"], body["volunteers"]) == (120, 2, 2)
    assert body["travel_minutes"] == 20 and body["valued_amount"] == "24.00"
    assert body["from"] == f"{today().year}-01-01" and body["to"] == f"{today().year}-12-31"
    assert [(g["key"], g["minutes"], g["valued_amount"]) for g in body["groups"]] == [
        (world.category.id, 90, "18.00"),
        (world.categories[1].id, 30, "6.00"),
    ]
    assert body["groups"][0]["label"] == world.category.name
    assert "hourly rate" in body["valuation"]["method"]
    assert {
        "level_id": None,
        "level": "Default rate",
        "effective_from": None,
        "hourly_rate": "12.00",
    } in body["valuation"]["rates"]


async def test_months_and_custom_ranges(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    record(db, world, minutes=45, date=days_ago(1))
    headers = headers_for(db, world.owner)
    months = await client.get(
        summary_path(world), params={"preset": "this_month", "group_by": "month"}, headers=headers
    )
    groups = months.json()["groups"]
    assert [g["key"] for g in groups] == [today().strftime("%Y-%m")]
    assert groups[0]["volunteers"] == (1 if days_ago(1).month == today().month else 0)
    custom = await client.get(
        summary_path(world),
        params={"from": days_ago(1).isoformat(), "to": days_ago(1).isoformat()},
        headers=headers,
    )
    assert custom.json()["total_minutes"] == 45 and custom.json()["from"] == days_ago(1).isoformat()
    empty = await client.get(summary_path(world), params={"preset": "last_year"}, headers=headers)
    assert empty.json()["total_minutes"] == 0 and empty.json()["valued_amount"] is None


async def test_pending_actions_are_shown_apart(client: httpx.AsyncClient, db: Database) -> None:
    world = make_world(db, requires_validation=True)
    kept = record(db, world, minutes=60)
    record(db, world, minutes=25)
    decide(db, world, world.manager, "validate", [kept.id])
    body = (await client.get(summary_path(world), headers=headers_for(db, world.owner))).json()
    assert (body["total_minutes"], body["pending_minutes"], body["pending_actions"]) == (60, 25, 1)


async def test_summary_permissions_and_bad_input(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    assert (
        await client.get(summary_path(world), headers=headers_for(db, world.volunteer))
    ).status_code == 403
    assert (
        await client.get(summary_path(world), headers=headers_for(db, quick_user(db)))
    ).status_code == 403
    assert (await client.get(summary_path(world))).status_code == 401
    assert (
        await client.get("/api/v1/associations/nope/summary", headers=headers_for(db, world.owner))
    ).status_code == 404
    headers = headers_for(db, world.owner)
    for params, field in (
        ({"preset": "tomorrow"}, "preset"),
        ({"group_by": "colour"}, "group_by"),
        ({"from": "2024-13-01"}, "from"),
        ({"from": "2024-03-02", "to": "2024-03-01"}, "to"),
        ({"to": "x"}, "to"),
    ):
        response = await client.get(summary_path(world), params=params, headers=headers)
        assert response.status_code == 422 and field in response.json()["errors"], params


async def test_my_summary_and_hours(client: httpx.AsyncClient, db: Database, world: World) -> None:
    record(db, world, minutes=40, date=days_ago(35))
    record(db, world, minutes=20)
    record(db, world, user=world.other, minutes=300)
    headers = headers_for(db, world.volunteer)
    mine = await client.get(
        summary_path(world) + "/me",
        params={"preset": "all_time", "group_by": "category"},
        headers=headers,
    )
    assert mine.status_code == 200 and mine.json()["total_minutes"] == 60
    hours = await client.get("/api/v1/me/hours", headers=headers)
    assert hours.status_code == 200
    body = hours.json()
    assert body["total_minutes"] == 60
    (entry,) = body["associations"]
    assert entry["slug"] == world.association.slug and entry["name"] == world.association.name
    assert entry["instance"] == "testserver" and entry["remote"] is False
    assert sum(month["minutes"] for month in entry["months"]) == 60
    assert all(len(month["month"]) == 7 for month in entry["months"])
    assert (await client.get("/api/v1/me/hours")).status_code == 401
    stranger = await client.get("/api/v1/me/hours", headers=headers_for(db, quick_user(db)))
    assert stranger.json() == {"total_minutes": 0, "associations": []}
    outsider = await client.get(
        summary_path(world) + "/me", headers=headers_for(db, quick_user(db))
    )
    assert outsider.status_code == 403


async def test_accounting_view(client: httpx.AsyncClient, db: Database, world: World) -> None:
    year = today().year - 1
    record(db, world, minutes=150, date=date(year, 5, 5))
    path = f"/api/v1/associations/{world.association.slug}/accounting"
    response = await client.get(path, params={"year": year}, headers=headers_for(db, world.viewer))
    assert response.status_code == 200
    body = response.json()
    assert (
        body["year"] == year and body["valued_amount"] == "30.00" and body["total_minutes"] == 150
    )
    assert [
        (row["account"], row["side"], row["hours"], row["valued_amount"]) for row in body["rows"]
    ] == [
        ("864", "debit", "2.50", "30.00"),
        ("875", "credit", "2.50", "30.00"),
    ]
    assert body["full_time_equivalent"] == "0.00"  # 2 h 30 over 1,607 h
    assert body["rows"][0]["account_label"] == "Personnel bénévole"
    assert body["rows"][1]["account_label"] == "Bénévolat"
    for bad in ("20x4", "99", "1999"):
        assert (
            await client.get(path, params={"year": bad}, headers=headers_for(db, world.owner))
        ).status_code == 422
    assert (await client.get(path, headers=headers_for(db, world.volunteer))).status_code == 403


async def test_my_summary_for_an_admin_outside_the_association(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    record(db, world, minutes=40)
    admin = quick_user(db, is_admin=True)
    response = await client.get(
        f"/api/v1/associations/{world.association.slug}/summary/me", headers=headers_for(db, admin)
    )
    assert response.status_code == 200 and response.json()["total_minutes"] == 0


def test_full_time_equivalents_count_the_year_s_hours_over_a_full_time_job() -> None:
    assert accounting.full_time_equivalent(0) == "0.00"
    assert accounting.full_time_equivalent(1607 * 60) == "1.00"
    assert accounting.full_time_equivalent(1000 * 60) == "0.62"  # 0.6223
    assert accounting.full_time_equivalent(4018 * 60) == "2.50"  # 2.50031
