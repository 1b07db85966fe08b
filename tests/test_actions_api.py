"""The actions API: recording, listing, correcting, deleting, validating, history."""

from typing import Any

import httpx
import pytest

from schema.db import Database
from tests.factories import make_association, make_membership
from tests.test_actions_support import (
    World,
    assert_rollups_exact,
    days_ago,
    headers_for,
    make_world,
    quick_user,
    today,
)


@pytest.fixture
def world(db: Database) -> World:
    return make_world(db)


def actions_path(world: World) -> str:
    return f"/api/v1/associations/{world.association.slug}/actions"


async def post(
    client: httpx.AsyncClient, db: Database, world: World, user: Any = None, **body: Any
) -> httpx.Response:
    data = {"minutes": 60, "category_id": world.category.id, **body}
    return await client.post(
        actions_path(world), json=data, headers=headers_for(db, user or world.volunteer)
    )


async def test_anonymous_and_bad_tokens_get_401(client: httpx.AsyncClient, world: World) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        response = await client.get(actions_path(world), headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"


async def test_a_volunteer_records_an_action(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    response = await post(
        client,
        db,
        world,
        title="Permanence",
        description="Accueil",
        distance_km=12.5,
        date=days_ago(3).isoformat(),
        level_id=world.levels[0].id,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {
        "id", "date", "end_date", "minutes", "travel_minutes", "category_id", "project_id",
        "level_id", "title", "description", "distance_km", "volunteer_id", "status",
        "refusal_reason", "valued_amount", "created_at", "updated_at", "created_by",
    }  # fmt: skip
    assert body["date"] == days_ago(3).isoformat() and body["minutes"] == 60
    assert body["distance_km"] == "12.50" and body["volunteer_id"] == world.member.id
    assert body["status"] == "validated" and body["refusal_reason"] is None
    assert body["created_by"] == world.volunteer.username
    assert body["valued_amount"] is not None and "." in body["valued_amount"]
    assert (await post(client, db, world)).json()["date"] == today().isoformat()
    assert_rollups_exact(db, world.association.id or 0)


BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"minutes": "60"}, "minutes"),
    ({"minutes": None}, "minutes"),
    ({"minutes": 0}, "minutes"),
    ({"minutes": -1}, "minutes"),
    ({"minutes": 10**12}, "minutes"),
    ({"minutes": [60]}, "minutes"),
    ({"date": "2999-01-01"}, "date"),
    ({"date": "yesterday"}, "date"),
    ({"date": {}}, "date"),
    ({"end_date": "1999-01-01"}, "end_date"),
    ({"category_id": None}, "category_id"),
    ({"category_id": 10**9}, "category_id"),
    ({"category_id": "1; DROP TABLE volunteer_action"}, "category_id"),
    ({"project_id": 10**9}, "project_id"),
    ({"level_id": -3}, "level_id"),
    ({"distance_km": "1.234"}, "distance_km"),
    ({"distance_km": "-2"}, "distance_km"),
    ({"distance_km": {"km": 1}}, "distance_km"),
    ({"travel_minutes": 15}, "travel_minutes"),
    ({"title": "t" * 128}, "title"),
    ({"title": ["x"]}, "title"),
    ({"description": "d" * 5001}, "description"),
    ({"volunteer_id": "me"}, "volunteer_id"),
    ({"volunteer_ids": "all"}, "volunteer_ids"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
async def test_bad_input_is_a_422_naming_the_field(
    client: httpx.AsyncClient, db: Database, world: World, body: dict[str, Any], field: str
) -> None:
    response = await post(client, db, world, user=world.manager, **body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.json()["errors"]
    listed = await client.get(actions_path(world), headers=headers_for(db, world.owner))
    assert listed.json()["items"] == []


async def test_bodies_that_are_not_json_objects(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    headers = headers_for(db, world.volunteer)
    for content, kind, status in (
        (b"[1, 2]", "application/json", 400),
        (b"{not json", "application/json", 400),
        (b"minutes=60", "application/x-www-form-urlencoded", 415),
    ):
        response = await client.post(
            actions_path(world), content=content, headers={**headers, "Content-Type": kind}
        )
        assert response.status_code == status


async def test_missing_fields_are_named(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    response = await client.post(
        actions_path(world), json={}, headers=headers_for(db, world.volunteer)
    )
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"minutes", "category_id"}


async def test_markup_and_sql_come_back_as_plain_text(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    text = "<script>alert('x')</script> ' OR 1=1; --"
    response = await post(client, db, world, title=text, description=text)
    assert response.status_code == 201
    shown = await client.get(
        f"/api/v1/actions/{response.json()['id']}", headers=headers_for(db, world.volunteer)
    )
    assert shown.json()["title"] == text and shown.json()["description"] == text


async def test_managers_record_for_others_and_groups(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    made = await post(client, db, world, user=world.manager, volunteer_id=world.other_member.id)
    assert made.status_code == 201 and made.json()["volunteer_id"] == world.other_member.id
    assert made.json()["created_by"] == world.manager.username
    refused = await post(client, db, world, volunteer_id=world.other_member.id)
    assert refused.status_code == 403
    ids = [world.member.id, world.other_member.id]
    group = await post(client, db, world, user=world.manager, volunteer_ids=ids, title="AG")
    assert group.status_code == 201
    assert [item["volunteer_id"] for item in group.json()["items"]] == ids
    both = await post(client, db, world, user=world.manager, volunteer_ids=ids, volunteer_id=ids[0])
    assert both.status_code == 422 and "volunteer_id" in both.json()["errors"]
    unknown = await post(client, db, world, user=world.manager, volunteer_ids=[ids[0], 10**9])
    assert unknown.status_code == 422 and "volunteer_ids" in unknown.json()["errors"]
    assert (await post(client, db, world, volunteer_ids=ids)).status_code == 403
    assert_rollups_exact(db, world.association.id or 0)


async def test_unknown_and_hidden_associations_are_404(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    headers = headers_for(db, world.volunteer)
    assert (
        await client.get("/api/v1/associations/nope/actions", headers=headers)
    ).status_code == 404
    hidden = make_association(db, quick_user(db), is_hidden=True)
    path = f"/api/v1/associations/{hidden.slug}/actions"
    assert (await client.get(path, headers=headers)).status_code == 404
    outsider = await client.get(actions_path(world), headers=headers_for(db, quick_user(db)))
    assert outsider.status_code == 403


async def test_listing_filters_and_pages(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    for days in range(5):
        await post(client, db, world, date=days_ago(days).isoformat(), minutes=10 + days)
    await post(client, db, world, user=world.other, category_id=world.categories[1].id)
    mine = await client.get(actions_path(world), headers=headers_for(db, world.volunteer))
    assert len(mine.json()["items"]) == 5 and mine.json()["next"] is None
    manager = headers_for(db, world.viewer)
    everyone = await client.get(actions_path(world), headers=manager)
    assert len(everyone.json()["items"]) == 6
    query = {
        "from": days_ago(3).isoformat(),
        "to": days_ago(1).isoformat(),
        "volunteer": world.member.id,
    }
    ranged = await client.get(actions_path(world), params=query, headers=manager)
    assert [item["minutes"] for item in ranged.json()["items"]] == [11, 12, 13]
    by_category = await client.get(
        actions_path(world), params={"category": world.categories[1].id}, headers=manager
    )
    assert len(by_category.json()["items"]) == 1
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = (await client.get(actions_path(world), params=params, headers=manager)).json()
        seen.extend(item["id"] for item in page["items"])
        if page["next"] is None:
            break
        params["cursor"] = page["next"]
    assert len(seen) == len(set(seen)) == 6
    for bad in (
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "x"},
        {"from": "hier"},
        {"status": "x"},
        {"cursor": "!!"},
    ):
        response = await client.get(actions_path(world), params=bad, headers=manager)
        assert response.status_code == 422, bad
        assert set(response.json()["errors"]) <= {"limit", "from", "status", "cursor"}


async def test_one_action_show_change_delete(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    action = (await post(client, db, world)).json()
    path = f"/api/v1/actions/{action['id']}"
    mine, other, viewer = (headers_for(db, u) for u in (world.volunteer, world.other, world.viewer))
    assert (await client.get(path, headers=mine)).json()["id"] == action["id"]
    assert (await client.get(path, headers=other)).status_code == 404
    assert (await client.patch(path, json={"minutes": 5}, headers=other)).status_code == 404
    assert (await client.get(path, headers=viewer)).status_code == 200
    assert (await client.patch(path, json={"minutes": 5}, headers=viewer)).status_code == 403
    assert (await client.delete(path, headers=viewer)).status_code == 403
    changed = await client.patch(
        path, json={"minutes": 95, "distance_km": "3", "title": "Tri"}, headers=mine
    )
    assert changed.status_code == 200
    assert (changed.json()["minutes"], changed.json()["distance_km"]) == (95, "3.00")
    bad = await client.patch(path, json={"minutes": "x", "date": "2999-12-31"}, headers=mine)
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"minutes"}
    future = await client.patch(path, json={"date": "2999-12-31"}, headers=mine)
    assert future.status_code == 422 and "date" in future.json()["errors"]
    assert (await client.delete(path, headers=mine)).status_code == 204
    assert (await client.get(path, headers=mine)).status_code == 404
    assert (await client.get("/api/v1/actions/999999", headers=mine)).status_code == 404
    assert (await client.get("/api/v1/actions/abc", headers=mine)).status_code == 404
    assert_rollups_exact(db, world.association.id or 0)


async def test_history_for_managers(client: httpx.AsyncClient, db: Database, world: World) -> None:
    action = (await post(client, db, world)).json()
    path = f"/api/v1/actions/{action['id']}"
    await client.patch(path, json={"minutes": 30}, headers=headers_for(db, world.volunteer))
    history = await client.get(path + "/history", headers=headers_for(db, world.viewer))
    assert history.status_code == 200
    items = history.json()["items"]
    assert [item["kind"] for item in items] == ["create", "edit"]
    assert (
        items[1]["changes"] == {"minutes": [60, 30]}
        and items[1]["user"] == world.volunteer.username
    )
    assert (
        await client.get(path + "/history", headers=headers_for(db, world.volunteer))
    ).status_code == 403
    assert (
        await client.get(path + "/history", headers=headers_for(db, world.other))
    ).status_code == 404


async def test_validation_queue_in_bulk(client: httpx.AsyncClient, db: Database) -> None:
    world = make_world(db, requires_validation=True)
    first = (await post(client, db, world)).json()
    second = (await post(client, db, world)).json()
    assert first["status"] == "pending"
    manager = headers_for(db, world.manager)
    queue = await client.get(actions_path(world), params={"status": "pending"}, headers=manager)
    assert {item["id"] for item in queue.json()["items"]} == {first["id"], second["id"]}
    base = actions_path(world)
    assert (
        await client.post(
            base + "/validate",
            json={"ids": [first["id"]]},
            headers=headers_for(db, world.volunteer),
        )
    ).status_code == 403
    assert (
        await client.post(
            base + "/validate", json={"ids": [first["id"]]}, headers=headers_for(db, world.viewer)
        )
    ).status_code == 403
    done = await client.post(base + "/validate", json={"ids": [first["id"]]}, headers=manager)
    assert done.status_code == 200 and done.json()["items"][0]["status"] == "validated"
    refused = await client.post(
        base + "/refuse", json={"ids": [second["id"]], "reason": "Doublon"}, headers=manager
    )
    assert refused.json()["items"][0]["refusal_reason"] == "Doublon"
    for body, field in (
        ({"ids": [second["id"]]}, "reason"),
        ({"ids": [], "reason": "x"}, "ids"),
        ({"ids": "1", "reason": "x"}, "ids"),
        ({"ids": [10**9], "reason": "x"}, "ids"),
    ):
        response = await client.post(base + "/refuse", json=body, headers=manager)
        assert response.status_code == 422 and field in response.json()["errors"]
    locked = await client.patch(
        f"/api/v1/actions/{first['id']}",
        json={"minutes": 1},
        headers=headers_for(db, world.volunteer),
    )
    assert locked.status_code == 403
    assert_rollups_exact(db, world.association.id or 0)


@pytest.mark.parametrize(
    "value", [None, True, False, 1.5, -1, "", "x", [], {}, "2024-02-30", 10**20, "0", "<b>"]
)
async def test_no_value_makes_a_500(
    client: httpx.AsyncClient, db: Database, world: World, value: Any
) -> None:
    headers = headers_for(db, world.manager)
    for field in (
        "date", "end_date", "minutes", "travel_minutes", "category_id", "project_id",
        "level_id", "title", "description", "distance_km", "volunteer_id", "volunteer_ids",
    ):  # fmt: skip
        body = {"minutes": 60, "category_id": world.category.id, field: value}
        response = await client.post(actions_path(world), json=body, headers=headers)
        assert response.status_code in {201, 422}, (field, value, response.text)


async def test_an_access_link_member_s_actions_are_listed_for_managers(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    link = make_membership(db, world.association, None, label="Camille")
    made = await post(client, db, world, user=world.manager, volunteer_id=link.id)
    assert made.status_code == 201
    found = await client.get(
        actions_path(world), params={"volunteer": link.id}, headers=headers_for(db, world.owner)
    )
    assert [item["volunteer_id"] for item in found.json()["items"]] == [link.id]


async def test_pending_members_see_no_list(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    waiting = quick_user(db)
    make_membership(db, world.association, waiting, status="pending")
    response = await client.get(actions_path(world), headers=headers_for(db, waiting))
    assert response.status_code == 403
    assert (await post(client, db, world, user=waiting)).status_code == 403


async def test_ids_beyond_32_bits_are_refused_cleanly(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    huge = 2**40
    owner = headers_for(db, world.owner)
    assert (await client.get(f"/api/v1/actions/{huge}", headers=owner)).status_code == 404
    assert (await client.get(f"/api/v1/actions/{huge}/history", headers=owner)).status_code == 404
    listed = await client.get(actions_path(world), params={"volunteer": str(huge)}, headers=owner)
    assert listed.status_code == 422
    decided = await client.post(
        actions_path(world) + "/validate", json={"ids": [huge]}, headers=owner
    )
    assert decided.status_code == 422
    slug = world.association.slug
    entry = await client.get(f"/api/v1/associations/{slug}/categories/{huge}", headers=owner)
    assert entry.status_code == 404
    made = await post(client, db, world, user=world.owner, category_id=huge, volunteer_ids=[huge])
    assert made.status_code == 422


async def test_nul_characters_are_refused(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    response = await post(client, db, world, title="a\x00b")
    assert response.status_code == 422 and "title" in response.json()["errors"]
