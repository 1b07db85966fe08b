"""The associations API: directory with cursors, creation, settings, join and leave."""

import httpx
import pytest

from instance import associations
from schema.db import Database
from schema.tables import Association
from tests.conftest import SentMail
from tests.factories import api_token, make_association, make_membership, make_user

ITEM_KEYS = {
    "slug",
    "name",
    "description",
    "join_policy",
    "is_hidden",
    "is_network",
    "archived",
    "members_count",
    "url",
}


async def test_list_is_public_with_cursors(client: httpx.AsyncClient, db: Database) -> None:
    owner = make_user(db)
    for number in range(7):
        make_association(db, owner, name=f"Asso {number}")
    make_association(db, owner, name="Hidden", is_hidden=True)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/v1/associations", params=params)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"items", "next"}
        seen += [item["name"] for item in body["items"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == [f"Asso {n}" for n in range(7)]
    item = (await client.get("/api/v1/associations", params={"q": "asso 3"})).json()["items"][0]
    assert ITEM_KEYS <= set(item)
    assert item["members_count"] == 1
    assert item["url"] == "http://testserver/associations/asso-3"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"cursor": "!!!"}, "cursor"),
        ({"cursor": "WzFd"}, "cursor"),
    ],
)
async def test_list_bad_paging(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    response = await client.get("/api/v1/associations", params=params)
    assert response.status_code == 422
    assert field in response.json()["errors"]


async def test_create_and_read(client: httpx.AsyncClient, db: Database) -> None:
    person = make_user(db)
    headers = await api_token(client, person)
    created = await client.post(
        "/api/v1/associations",
        json={"name": "Café Couture", "join_policy": "moderated", "network": True},
        headers=headers,
    )
    assert created.status_code == 201
    body = created.json()
    assert body["slug"] == "cafe-couture"
    assert (body["join_policy"], body["is_network"], body["is_hidden"]) == (
        "moderated",
        True,
        False,
    )
    read = await client.get("/api/v1/associations/cafe-couture")
    assert read.status_code == 200 and read.json()["name"] == "Café Couture"
    duplicate = await client.post(
        "/api/v1/associations", json={"name": "CAFÉ COUTURE"}, headers=headers
    )
    assert duplicate.status_code == 422
    assert "name" in duplicate.json()["errors"]


async def test_create_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/associations", json={"name": "X"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": 12}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 128}, "name"),
        ({"name": "Ok", "hidden": "yes"}, "hidden"),
        ({"name": "Ok", "network": 1}, "network"),
        ({"name": "Ok", "join_policy": "closed"}, "join_policy"),
        ({"name": "Ok", "colour": "red"}, "colour"),
        ({"name": "Ok", "description": ["a"]}, "description"),
    ],
)
async def test_create_bad_inputs(
    client: httpx.AsyncClient, db: Database, body: dict[str, object], field: str
) -> None:
    headers = await api_token(client, make_user(db))
    response = await client.post("/api/v1/associations", json=body, headers=headers)
    assert response.status_code == 422
    assert field in response.json()["errors"]


async def test_hidden_is_404_to_outsiders_but_visible_to_members(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner, member, outsider = make_user(db), make_user(db), make_user(db)
    hidden = make_association(db, owner, name="Hush", is_hidden=True)
    make_membership(db, hidden, member)
    path = f"/api/v1/associations/{hidden.slug}"
    assert (await client.get(path)).status_code == 404
    outsider_headers = await api_token(client, outsider)
    assert (await client.get(path, headers=outsider_headers)).status_code == 404
    for extra in ("/join", "/leave"):
        assert (await client.post(path + extra, headers=outsider_headers)).status_code == 404
    listed = await client.get("/api/v1/associations", headers=outsider_headers)
    assert "Hush" not in [i["name"] for i in listed.json()["items"]]
    member_headers = await api_token(client, member)
    assert (await client.get(path, headers=member_headers)).status_code == 200
    listed = await client.get("/api/v1/associations", headers=member_headers)
    assert "Hush" in [i["name"] for i in listed.json()["items"]]


async def test_patch_settings(client: httpx.AsyncClient, db: Database) -> None:
    owner, volunteer = make_user(db), make_user(db)
    association = make_association(db, owner, name="Old")
    make_membership(db, association, volunteer)
    path = f"/api/v1/associations/{association.slug}"
    refused = await client.patch(
        path, json={"name": "New one"}, headers=await api_token(client, volunteer)
    )
    assert refused.status_code == 403
    headers = await api_token(client, owner)
    changed = await client.patch(
        path,
        json={
            "name": "New one",
            "website": "https://new.example.org",
            "hidden": True,
            "approve_follows": True,
            "join_policy": "invitation",
        },
        headers=headers,
    )
    assert changed.status_code == 200
    body = changed.json()
    assert (body["name"], body["slug"], body["is_hidden"]) == ("New one", "old", True)
    bad = await client.patch(path, json={"website": "ftp://x", "slug": "other"}, headers=headers)
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"slug"}
    bad = await client.patch(path, json={"website": "ftp://x"}, headers=headers)
    assert bad.status_code == 422 and "website" in bad.json()["errors"]


async def test_delete_is_for_owners(client: httpx.AsyncClient, db: Database) -> None:
    owner, manager = make_user(db), make_user(db)
    association = make_association(db, owner)
    make_membership(db, association, manager, role="manager", perm_manage_settings=True)
    path = f"/api/v1/associations/{association.slug}"
    assert (await client.delete(path)).status_code == 401
    assert (await client.delete(path, headers=await api_token(client, manager))).status_code == 403
    assert (await client.delete(path, headers=await api_token(client, owner))).status_code == 204
    assert (await client.get(path)).status_code == 404
    with db.read() as session:
        assert session.get(Association, association.id) is None


async def test_join_and_leave(client: httpx.AsyncClient, db: Database, mail: SentMail) -> None:
    owner = make_user(db, email="boss@example.org")
    moderated = make_association(db, owner, join_policy="moderated")
    open_one = make_association(db, owner)
    invitation = make_association(db, owner, join_policy="invitation")
    headers = await api_token(client, make_user(db))
    joined = await client.post(f"/api/v1/associations/{open_one.slug}/join", headers=headers)
    assert joined.status_code == 201 and joined.json()["status"] == "active"
    again = await client.post(f"/api/v1/associations/{open_one.slug}/join", headers=headers)
    assert again.status_code == 409
    asked = await client.post(
        f"/api/v1/associations/{moderated.slug}/join", json={"message": "Hi"}, headers=headers
    )
    assert asked.status_code == 201 and asked.json()["status"] == "pending"
    mail.last_to("boss@example.org")
    closed = await client.post(f"/api/v1/associations/{invitation.slug}/join", headers=headers)
    assert closed.status_code == 403
    left = await client.post(f"/api/v1/associations/{open_one.slug}/leave", headers=headers)
    assert left.status_code == 200
    assert left.json() == {"id": joined.json()["id"], "status": "left"}
    rejoined = await client.post(f"/api/v1/associations/{open_one.slug}/join", headers=headers)
    assert rejoined.json()["id"] == joined.json()["id"]
    wrong = await client.post(
        f"/api/v1/associations/{open_one.slug}/join", json={"message": 3}, headers=headers
    )
    assert wrong.status_code == 422 and "message" in wrong.json()["errors"]


async def test_last_owner_cannot_leave_by_api(client: httpx.AsyncClient, db: Database) -> None:
    owner = make_user(db)
    association = make_association(db, owner)
    headers = await api_token(client, owner)
    response = await client.post(f"/api/v1/associations/{association.slug}/leave", headers=headers)
    assert response.status_code == 409
    with db.read() as session:
        row = associations.membership_of(session, association, owner)
    assert row is not None and row.status == "active"


async def test_injection_comes_back_as_data(client: httpx.AsyncClient, db: Database) -> None:
    name = "<img src=x onerror=alert(1)>'; DROP TABLE association; --"
    headers = await api_token(client, make_user(db))
    created = await client.post("/api/v1/associations", json={"name": name}, headers=headers)
    assert created.status_code == 201
    read = await client.get(f"/api/v1/associations/{created.json()['slug']}")
    assert read.json()["name"] == name
    page = await client.get(f"/associations/{created.json()['slug']}")
    assert "<img src=x" not in page.text and "&lt;img src=x" in page.text
