"""The taxonomy API: categories, projects and levels with their dated rates."""

from typing import Any

import httpx
import pytest

from schema.db import Database
from tests.test_actions_support import (
    World,
    days_ago,
    headers_for,
    make_world,
    quick_user,
    record,
    today,
)


@pytest.fixture
def world(db: Database) -> World:
    return make_world(db)


def path(world: World, plural: str, suffix: str = "") -> str:
    return f"/api/v1/associations/{world.association.slug}/{plural}{suffix}"


async def test_members_list_entries_others_may_not(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    listed = await client.get(path(world, "categories"), headers=headers_for(db, world.volunteer))
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert len(items) == 12 and set(items[0]) == {"id", "name", "description", "archived"}
    levels = (
        await client.get(path(world, "levels"), headers=headers_for(db, world.volunteer))
    ).json()
    level = next(item for item in levels["items"] if item["name"] == "Tâches courantes")
    assert level["hourly_rate"] == "11.88"
    assert level["rates"] == [{"effective_from": "2000-01-01", "hourly_rate": "11.88"}]
    projects = await client.get(path(world, "projects"), headers=headers_for(db, world.volunteer))
    assert projects.json() == {"items": [], "next": None}
    outsider = await client.get(path(world, "categories"), headers=headers_for(db, quick_user(db)))
    assert outsider.status_code == 403
    assert (await client.get(path(world, "categories"))).status_code == 401


async def test_settings_managers_create_update_and_remove(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    owner = headers_for(db, world.owner)
    for user in (world.volunteer, world.manager, world.viewer):  # none may manage settings
        response = await client.post(
            path(world, "categories"), json={"name": "X"}, headers=headers_for(db, user)
        )
        assert response.status_code == 403
    made = await client.post(
        path(world, "projects"),
        json={
            "name": "Festival <b>",
            "description": "Été",
            "starts_on": "2024-06-01",
            "ends_on": None,
        },
        headers=owner,
    )
    assert made.status_code == 201, made.text
    project = made.json()
    assert project["name"] == "Festival <b>" and project["starts_on"] == "2024-06-01"
    assert project["ends_on"] is None and project["archived"] is False
    one = path(world, "projects", f"/{project['id']}")
    patched = await client.patch(
        one, json={"ends_on": "2024-06-30", "name": "Festival"}, headers=owner
    )
    assert patched.status_code == 200 and patched.json()["ends_on"] == "2024-06-30"
    assert (await client.get(one, headers=headers_for(db, world.volunteer))).json()[
        "name"
    ] == "Festival"
    assert (await client.delete(one, headers=owner)).status_code == 204
    assert (await client.get(one, headers=owner)).status_code == 404


async def test_deleting_a_used_entry_archives_it(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    record(db, world)
    owner = headers_for(db, world.owner)
    one = path(world, "categories", f"/{world.category.id}")
    removed = await client.delete(one, headers=owner)
    assert removed.status_code == 200 and removed.json()["archived"] is True
    body = {"minutes": 30, "category_id": world.category.id}
    refused = await client.post(
        f"/api/v1/associations/{world.association.slug}/actions",
        json=body,
        headers=headers_for(db, world.volunteer),
    )
    assert refused.status_code == 422 and "category_id" in refused.json()["errors"]
    back = await client.patch(one, json={"archived": False}, headers=owner)
    assert back.status_code == 200 and back.json()["archived"] is False


BAD_ENTRIES: list[tuple[str, dict[str, Any], str]] = [
    ("categories", {}, "name"),
    ("categories", {"name": ""}, "name"),
    ("categories", {"name": 5}, "name"),
    ("categories", {"name": "n" * 101}, "name"),
    ("categories", {"name": "autre"}, "name"),
    ("categories", {"name": "ok", "description": "d" * 1001}, "description"),
    ("categories", {"name": "ok", "archived": "no"}, "archived"),
    ("projects", {"name": "p", "starts_on": "2024-02-02", "ends_on": "2024-02-01"}, "ends_on"),
    ("projects", {"name": "p", "starts_on": "soon"}, "starts_on"),
    ("levels", {"name": "l", "hourly_rate": "abc"}, "hourly_rate"),
    ("levels", {"name": "l", "hourly_rate": "-4"}, "hourly_rate"),
    ("levels", {"name": "l", "hourly_rate": "4.567"}, "hourly_rate"),
    ("levels", {"name": "l", "hourly_rate": True}, "hourly_rate"),
]


@pytest.mark.parametrize(("plural", "body", "field"), BAD_ENTRIES)
async def test_bad_entries_are_422(
    client: httpx.AsyncClient, db: Database, world: World, plural: str, body: dict, field: str
) -> None:
    response = await client.post(
        path(world, plural), json=body, headers=headers_for(db, world.owner)
    )
    assert response.status_code == 422, response.text
    assert field in response.json()["errors"]


async def test_entries_of_other_associations_are_404(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    elsewhere = make_world(db)
    owner = headers_for(db, world.owner)
    for suffix in (f"/{elsewhere.category.id}", "/999999", "/abc"):
        assert (
            await client.patch(path(world, "categories", suffix), json={"name": "x"}, headers=owner)
        ).status_code == 404
    assert (
        await client.get("/api/v1/associations/nope/categories", headers=owner)
    ).status_code == 404


async def test_dated_rates_through_the_api(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    owner = headers_for(db, world.owner)
    level = (
        await client.post(
            path(world, "levels"), json={"name": "Expert", "hourly_rate": "30"}, headers=owner
        )
    ).json()
    assert level["hourly_rate"] == "30.00"
    action = record(db, world, level_id=level["id"], date=days_ago(20), minutes=60)
    rates = path(world, "levels", f"/{level['id']}/rates")
    future = await client.post(
        rates, json={"effective_from": "2999-01-01", "hourly_rate": "99"}, headers=owner
    )
    assert future.status_code == 201 and future.json()["hourly_rate"] == "30.00"
    past = await client.post(
        rates, json={"effective_from": days_ago(30).isoformat(), "hourly_rate": 20}, headers=owner
    )
    assert past.status_code == 201
    assert [rate["hourly_rate"] for rate in past.json()["rates"]] == ["30.00", "20.00", "99.00"]
    shown = await client.get(
        f"/api/v1/actions/{action.id}", headers=headers_for(db, world.volunteer)
    )
    assert shown.json()["valued_amount"] == "20.00"
    for body, field in (
        ({"hourly_rate": "20"}, "effective_from"),
        ({"effective_from": "x", "hourly_rate": "20"}, "effective_from"),
        ({"effective_from": today().isoformat()}, "hourly_rate"),
    ):
        response = await client.post(rates, json=body, headers=owner)
        assert response.status_code == 422 and field in response.json()["errors"]
    forbidden = await client.post(
        rates,
        json={"effective_from": "2020-01-01", "hourly_rate": "1"},
        headers=headers_for(db, world.manager),
    )
    assert forbidden.status_code == 403
    patched = await client.patch(
        path(world, "levels", f"/{level['id']}"), json={"hourly_rate": "25"}, headers=owner
    )
    assert patched.json()["hourly_rate"] == "25.00"
    assert (await client.get(f"/api/v1/actions/{action.id}", headers=owner)).json()[
        "valued_amount"
    ] == "20.00"
