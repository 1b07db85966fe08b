"""A recording sent twice with the same key (a phone that lost the answer) is recorded once."""

import httpx
from sqlmodel import select

from schema.db import Database
from schema.tables import Action
from tests.factories import csrf_from
from tests.test_action_pages import sign_in
from tests.test_actions_support import World, days_ago, headers_for, make_world

KEY = "0f8d3c1e-6b2a-4c55-9e07-1a2b3c4d5e6f"


def actions_of(db: Database, world: World) -> list[Action]:
    with db.read() as session:
        query = select(Action).where(Action.association_id == world.association.id)
        return list(session.exec(query))


async def test_the_api_answers_a_repeated_key_with_the_first_action(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db)
    path = f"/api/v1/associations/{world.association.slug}/actions"
    headers = headers_for(db, world.volunteer)
    body = {"minutes": 60, "category_id": world.category.id, "client_ref": KEY}
    first = await client.post(path, json=body, headers=headers)
    again = await client.post(path, json={**body, "minutes": 90}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()  # the first recording, unchanged
    [action] = actions_of(db, world)
    assert action.client_ref == KEY and action.minutes == 60
    # Another association may hold the same key: keys are the association's.
    other = make_world(db)
    elsewhere = await client.post(
        f"/api/v1/associations/{other.association.slug}/actions",
        json={**body, "category_id": other.category.id},
        headers=headers_for(db, other.volunteer),
    )
    assert elsewhere.status_code == 201
    # Without a key, two identical recordings are two actions.
    plain = {"minutes": 30, "category_id": world.category.id}
    for _ in range(2):
        assert (await client.post(path, json=plain, headers=headers)).status_code == 201
    assert len(actions_of(db, world)) == 3


async def test_bad_keys_are_refused_and_groups_go_without_one(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db)
    path = f"/api/v1/associations/{world.association.slug}/actions"
    for bad in ("short", "x" * 65, "spaces are not allowed", 12345678):
        response = await client.post(
            path,
            json={"minutes": 60, "category_id": world.category.id, "client_ref": bad},
            headers=headers_for(db, world.volunteer),
        )
        assert response.status_code == 422
        assert "client_ref" in response.json()["errors"]
    group = await client.post(
        path,
        json={
            "minutes": 60,
            "category_id": world.category.id,
            "client_ref": KEY,
            "volunteer_ids": [world.member.id, world.other_member.id],
        },
        headers=headers_for(db, world.manager),
    )
    assert group.status_code == 201
    assert [action.client_ref for action in actions_of(db, world)] == [None, None]


async def test_the_form_records_a_key_once(client: httpx.AsyncClient, db: Database) -> None:
    world = make_world(db)
    url = f"/associations/{world.association.slug}/actions/new"
    await sign_in(client, world.volunteer)
    page = await client.get(url)
    data = {
        "csrf_token": csrf_from(page.text),
        "date": days_ago(1).isoformat(),
        "duration": "60",
        "category_id": world.category.id,
        "offline_ref": KEY,
    }
    for _ in range(2):
        response = await client.post(url, data=data)
        assert response.status_code == 303
    [action] = actions_of(db, world)
    assert action.client_ref == KEY
