"""API of a network on its own instance: creation, profile, categories, requests, members."""

from typing import Any

import httpx
import pytest

from schema.db import Database
from schema.tables import Association, NetworkMember, User
from tests.factories import api_token, make_association, make_membership, make_user
from tests.network_support import add_member, make_network

SCRIPT = '<script>alert("x")</script>'


@pytest.fixture
def owner(db: Database) -> User:
    return make_user(db)


@pytest.fixture
def network(db: Database, owner: User) -> Association:
    return make_network(db, owner, name="Réseau régional")


@pytest.fixture
async def headers(client: httpx.AsyncClient, owner: User) -> dict[str, str]:
    return await api_token(client, owner)


def url(network: Association, rest: str = "") -> str:
    return f"/api/v1/networks/{network.slug}{rest}"


async def as_role(
    db: Database, client: httpx.AsyncClient, network: Association, **kw: Any
) -> dict[str, str]:
    person = make_user(db)
    make_membership(db, network, person, **kw)
    return await api_token(client, person)


# Creating a network


async def test_creating_with_network_true_makes_a_network(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    made = await client.post(
        "/api/v1/associations",
        json={"name": "Fédération du Nord", "network": True},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    assert made.json()["is_network"] is True
    found = await client.get(f"/api/v1/networks/{made.json()['slug']}")
    assert found.status_code == 200
    body = found.json()
    assert body["threshold"] == 5
    assert body["licence"]["id"] == "ODbL-1.0"
    assert body["licence"]["url"].startswith("https://opendatacommons.org/")
    assert body["licences"] == ["CC-BY-4.0", "ODbL-1.0", "etalab-2.0"]
    assert body["categories"][-1] == {
        "key": "other",
        "label": "Autre",
        "position": 6,
        "archived": False,
    }
    assert body["actor"] == f"http://testserver/associations/{made.json()['slug']}"
    assert body["open_data"].endswith(f"/api/v1/networks/{made.json()['slug']}/open-data.json")
    assert body["members_count"] == 0


@pytest.mark.parametrize("value", ["yes", 1, None, []])
async def test_network_must_be_a_boolean(
    client: httpx.AsyncClient, headers: dict[str, str], value: object
) -> None:
    made = await client.post(
        "/api/v1/associations", json={"name": "Mauvais", "network": value}, headers=headers
    )
    assert made.status_code == 422
    assert "network" in made.json()["errors"]


async def test_an_ordinary_association_is_not_a_network(
    db: Database, client: httpx.AsyncClient, owner: User, headers: dict[str, str]
) -> None:
    plain = make_association(db, owner)
    for path in ("", "/categories", "/members", "/requests", "/dashboard", "/open-data.json"):
        answer = await client.get(f"/api/v1/networks/{plain.slug}{path}", headers=headers)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/v1/networks/no-such-thing")).status_code == 404


async def test_a_hidden_network_is_a_404_to_others(
    db: Database, client: httpx.AsyncClient, owner: User, headers: dict[str, str]
) -> None:
    hidden = make_network(db, owner, is_hidden=True)
    assert (await client.get(url(hidden))).status_code == 404
    outsider = await api_token(client, make_user(db))
    assert (await client.get(url(hidden), headers=outsider)).status_code == 404
    patched = await client.patch(url(hidden), json={"threshold": 3}, headers=outsider)
    assert patched.status_code == 404
    assert (await client.get(url(hidden), headers=headers)).status_code == 200


# Profile


async def test_patch_threshold_and_licence(
    client: httpx.AsyncClient, network: Association, headers: dict[str, str]
) -> None:
    answer = await client.patch(
        url(network), json={"threshold": 8, "licence": "etalab-2.0"}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["threshold"] == 8
    assert answer.json()["licence"]["name"] == "Licence Ouverte 2.0 (Etalab)"
    again = (await client.get(url(network))).json()
    assert (again["threshold"], again["licence"]["id"]) == (8, "etalab-2.0")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"threshold": 0}, "threshold"),
        ({"threshold": 51}, "threshold"),
        ({"threshold": "five"}, "threshold"),
        ({"threshold": True}, "threshold"),
        ({"threshold": 4.5}, "threshold"),
        ({"licence": "MIT"}, "licence"),
        ({"licence": 7}, "licence"),
        ({"licence": SCRIPT}, "licence"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_profiles_are_refused(
    client: httpx.AsyncClient,
    network: Association,
    headers: dict[str, str],
    body: dict[str, Any],
    field: str,
) -> None:
    answer = await client.patch(url(network), json=body, headers=headers)
    assert answer.status_code == 422
    assert field in answer.json()["errors"]
    assert (await client.get(url(network))).json()["threshold"] == 5


async def test_who_may_patch_the_profile(
    db: Database, client: httpx.AsyncClient, network: Association
) -> None:
    assert (await client.patch(url(network), json={"threshold": 3})).status_code == 401
    for kw in ({}, {"role": "manager", "perm_view_actions": True}):
        refused = await client.patch(
            url(network), json={"threshold": 3}, headers=await as_role(db, client, network, **kw)
        )
        assert refused.status_code == 403
    outsider = await api_token(client, make_user(db))
    assert (
        await client.patch(url(network), json={"threshold": 3}, headers=outsider)
    ).status_code == 403
    allowed = await as_role(db, client, network, role="manager", perm_manage_settings=True)
    assert (
        await client.patch(url(network), json={"threshold": 3}, headers=allowed)
    ).status_code == 200


# Categories


async def test_category_lifecycle(
    client: httpx.AsyncClient, network: Association, headers: dict[str, str]
) -> None:
    made = await client.post(
        url(network, "/categories"), json={"label": "Aide aux devoirs"}, headers=headers
    )
    assert made.status_code == 201, made.text
    assert made.json()["key"] == "aide-aux-devoirs"
    keyed = await client.post(
        url(network, "/categories"), json={"label": "Sport", "key": "sport"}, headers=headers
    )
    assert keyed.json()["key"] == "sport"
    moved = await client.patch(
        url(network, "/categories/sport"), json={"position": 0, "label": "Sports"}, headers=headers
    )
    assert moved.status_code == 200
    assert moved.json() == {"key": "sport", "label": "Sports", "position": 0, "archived": False}
    listed = (await client.get(url(network, "/categories"))).json()
    assert listed["next"] is None
    assert [c["key"] for c in listed["items"]][:1] == ["sport"]
    assert listed["items"][-1]["key"] == "other"
    gone = await client.delete(url(network, "/categories/sport"), headers=headers)
    assert gone.status_code == 204
    listed = (await client.get(url(network, "/categories"))).json()["items"]
    assert {"key": "sport", "label": "Sports", "archived": True} == {
        k: v for k, v in next(c for c in listed if c["key"] == "sport").items() if k != "position"
    }
    back = await client.patch(
        url(network, "/categories/sport"), json={"archived": False}, headers=headers
    )
    assert back.json()["archived"] is False


async def test_other_stays(
    client: httpx.AsyncClient, network: Association, headers: dict[str, str]
) -> None:
    assert (
        await client.delete(url(network, "/categories/other"), headers=headers)
    ).status_code == 409
    refused = await client.patch(
        url(network, "/categories/other"), json={"archived": True}, headers=headers
    )
    assert refused.status_code == 409
    moved = await client.patch(
        url(network, "/categories/other"), json={"position": 0}, headers=headers
    )
    assert moved.status_code == 409
    renamed = await client.patch(
        url(network, "/categories/other"), json={"label": "Divers"}, headers=headers
    )
    assert renamed.status_code == 200 and renamed.json()["label"] == "Divers"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "label"),
        ({"label": ""}, "label"),
        ({"label": "x" * 101}, "label"),
        ({"label": 5}, "label"),
        ({"label": "Sport", "key": "Not A Key"}, "key"),
        ({"label": "Sport", "key": "formation"}, "key"),
        ({"label": "Sport", "other": 1}, "other"),
    ],
)
async def test_bad_categories_are_refused(
    client: httpx.AsyncClient,
    network: Association,
    headers: dict[str, str],
    body: dict[str, Any],
    field: str,
) -> None:
    answer = await client.post(url(network, "/categories"), json=body, headers=headers)
    assert answer.status_code == 422
    assert field in answer.json()["errors"]


@pytest.mark.parametrize(
    "body",
    [
        {"position": -1},
        {"position": "first"},
        {"position": 10_000},
        {"archived": "yes"},
        {"label": ""},
    ],
)
async def test_bad_category_changes(
    client: httpx.AsyncClient, network: Association, headers: dict[str, str], body: dict[str, Any]
) -> None:
    answer = await client.patch(url(network, "/categories/formation"), json=body, headers=headers)
    assert answer.status_code == 422


async def test_unknown_categories_and_stored_hostile_labels(
    client: httpx.AsyncClient, network: Association, headers: dict[str, str]
) -> None:
    for method in ("PATCH", "DELETE"):
        answer = await client.request(
            method, url(network, "/categories/nope"), json={}, headers=headers
        )
        assert answer.status_code == 404
    made = await client.post(url(network, "/categories"), json={"label": SCRIPT}, headers=headers)
    assert made.json()["label"] == SCRIPT  # JSON carries data; pages escape it


async def test_categories_need_manage_settings(
    db: Database, client: httpx.AsyncClient, network: Association
) -> None:
    volunteer = await as_role(db, client, network)
    assert (
        await client.post(url(network, "/categories"), json={"label": "X"}, headers=volunteer)
    ).status_code == 403
    assert (
        await client.delete(url(network, "/categories/formation"), headers=volunteer)
    ).status_code == 403
    assert (await client.post(url(network, "/categories"), json={"label": "X"})).status_code == 401
    assert (await client.get(url(network, "/categories"))).status_code == 200


# Requests and members


async def test_requests_are_listed_for_member_managers(
    db: Database, client: httpx.AsyncClient, network: Association, headers: dict[str, str]
) -> None:
    first = add_member(db, network, name="Les Jardins", host="jardins.example", status="pending")
    second = add_member(db, network, name="Secret", status="pending", anonymous=True)
    add_member(db, network, status="active")
    page = await client.get(url(network, "/requests?limit=1"), headers=headers)
    assert page.status_code == 200
    body = page.json()
    assert body["items"] == [
        {
            "id": first.id,
            "from": "https://jardins.example/" + first.actor_uri.split("/", 3)[3],
            "status": "pending",
            "name": "Les Jardins",
            "created": first.created_at.isoformat(),
            "anonymous": False,
            "is_network": False,
        }
    ]
    assert body["next"]
    rest = (
        await client.get(url(network, f"/requests?cursor={body['next']}"), headers=headers)
    ).json()
    assert [item["id"] for item in rest["items"]] == [second.id]
    assert rest["items"][0]["name"] == "Secret"  # managers see who asks
    assert rest["next"] is None
    active = (await client.get(url(network, "/requests?status=active"), headers=headers)).json()
    assert [item["status"] for item in active["items"]] == ["active"]


@pytest.mark.parametrize(
    "query", ["?status=gone", "?limit=0", "?limit=201", "?limit=x", "?cursor=%%%", "?cursor=Imki"]
)
async def test_bad_request_listings(
    client: httpx.AsyncClient, network: Association, headers: dict[str, str], query: str
) -> None:
    assert (await client.get(url(network, "/requests" + query), headers=headers)).status_code == 422


async def test_accept_refuse_and_conflicts(
    db: Database, client: httpx.AsyncClient, network: Association, headers: dict[str, str]
) -> None:
    first = add_member(db, network, status="pending")
    second = add_member(db, network, status="pending")
    accepted = await client.post(url(network, f"/requests/{first.id}/accept"), headers=headers)
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "active"
    refused = await client.post(
        url(network, f"/requests/{second.id}/refuse"), json={}, headers=headers
    )
    assert refused.json()["status"] == "refused"
    for member in (first, second):
        for decision in ("accept", "refuse"):
            again = await client.post(
                url(network, f"/requests/{member.id}/{decision}"), headers=headers
            )
            assert again.status_code == 409
    body = await client.post(
        url(network, f"/requests/{first.id}/accept"), json={"x": 1}, headers=headers
    )
    assert body.status_code == 422
    with db.read() as session:
        assert session.get(NetworkMember, first.id).status == "active"  # type: ignore[union-attr]
        assert session.get(NetworkMember, second.id).status == "refused"  # type: ignore[union-attr]


async def test_unknown_and_foreign_requests(
    db: Database,
    client: httpx.AsyncClient,
    owner: User,
    network: Association,
    headers: dict[str, str],
) -> None:
    elsewhere = make_network(db, owner)
    theirs = add_member(db, elsewhere, status="pending")
    for member_id in (theirs.id, 999_999, 2**62):
        answer = await client.post(url(network, f"/requests/{member_id}/accept"), headers=headers)
        assert answer.status_code == 404
    assert (
        await client.post(url(network, "/requests/abc/accept"), headers=headers)
    ).status_code == 404


async def test_decisions_need_manage_members(
    db: Database, client: httpx.AsyncClient, network: Association
) -> None:
    request = add_member(db, network, status="pending")
    path = url(network, f"/requests/{request.id}/accept")
    assert (await client.post(path)).status_code == 401
    assert (await client.get(url(network, "/requests"))).status_code == 401
    settings = await as_role(
        db, client, network, role="manager", perm_manage_settings=True, perm_view_actions=True
    )
    assert (await client.post(path, headers=settings)).status_code == 403
    assert (await client.get(url(network, "/requests"), headers=settings)).status_code == 403
    members = await as_role(db, client, network, role="manager", perm_manage_members=True)
    assert (await client.post(path, headers=members)).status_code == 200


async def test_public_members_hide_the_anonymous(
    db: Database, client: httpx.AsyncClient, network: Association, headers: dict[str, str]
) -> None:
    named = add_member(db, network, name="Les Amis du Vélo", host="velo.example")
    secret = add_member(db, network, name="Très Secret", host="secret.example", anonymous=True)
    add_member(db, network, name="En attente", status="pending")
    listed = await client.get(url(network, "/members"))
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert items == [
        {
            "id": named.id,
            "name": "Les Amis du Vélo",
            "anonymous": False,
            "host": "velo.example",
            "actor": named.actor_uri,
            "is_network": False,
        },
        {
            "id": secret.id,
            "name": "An association (anonymous)",
            "anonymous": True,
            "host": None,
            "actor": None,
            "is_network": False,
        },
    ]
    assert "Secret" not in listed.text and "secret.example" not in listed.text
    paged = (await client.get(url(network, "/members?limit=1"))).json()
    assert len(paged["items"]) == 1 and paged["next"]
    removed = await client.delete(url(network, f"/members/{named.id}"), headers=headers)
    assert removed.status_code == 204
    assert [i["id"] for i in (await client.get(url(network, "/members"))).json()["items"]] == [
        secret.id
    ]
    assert (
        await client.delete(url(network, f"/members/{named.id}"), headers=headers)
    ).status_code == 409
    assert (await client.delete(url(network, f"/members/{named.id}"))).status_code == 401
    assert (await client.get(url(network))).json()["members_count"] == 1
