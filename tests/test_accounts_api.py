"""The JSON API of accounts: tokens and /api/v1/me."""

from typing import Any

import httpx
import pytest
from sqlmodel import select

from schema.db import Database
from schema.tables import ApiToken, Membership, User
from tests.factories import (
    PASSWORD,
    api_token,
    log_in,
    make_association,
    make_membership,
    make_user,
)

TOKEN_URL = "/api/v1/auth/token"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"]
    return body


async def test_token_lifecycle(client: httpx.AsyncClient, db: Database) -> None:
    user = make_user(db)
    created = await client.post(
        TOKEN_URL, json={"username": user.email.upper(), "password": PASSWORD, "label": "phone"}
    )
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"token", "id"} and len(body["token"]) >= 40
    headers = {"Authorization": f"Bearer {body['token']}"}
    with db.read() as session:
        row = session.get(ApiToken, body["id"])
    assert row is not None and row.label == "phone" and row.token_hash != body["token"]
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200

    revoked = await client.delete(TOKEN_URL, headers=headers)
    assert revoked.status_code == 204
    assert_problem(await client.get("/api/v1/me", headers=headers), 401)
    assert_problem(await client.delete(TOKEN_URL, headers=headers), 401)
    assert_problem(await client.delete(TOKEN_URL), 401)


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"username", "password"}),
        ({"username": "x"}, {"password"}),
        ({"username": 12, "password": ["a"]}, {"username", "password"}),
        ({"username": None, "password": True}, {"username", "password"}),
        ({"username": "x", "password": "y", "label": 5}, {"label"}),
        ({"username": "x", "password": "y", "label": "l" * 101}, {"label"}),
        ({"username": "x", "password": "y", "admin": True}, {"admin"}),
    ],
)
async def test_token_bad_inputs(
    client: httpx.AsyncClient, payload: dict[str, Any], fields: set[str]
) -> None:
    body = assert_problem(await client.post(TOKEN_URL, json=payload), 422)
    assert set(body["errors"]) == fields


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b'"text"', "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        (b"username=a&password=b", "application/x-www-form-urlencoded", 415),
        (b'{"username": "a"', "application/json", 400),
    ],
)
async def test_token_bodies_that_are_not_json_objects(
    client: httpx.AsyncClient, content: bytes, content_type: str, status: int
) -> None:
    response = await client.post(TOKEN_URL, content=content, headers={"content-type": content_type})
    assert_problem(response, status)


async def test_token_refusals(client: httpx.AsyncClient, db: Database) -> None:
    user = make_user(db)
    unconfirmed = make_user(db, email_confirmed=False)
    suspended = make_user(db)
    with db.write() as session:
        row = session.get(User, suspended.id)
        assert row is not None
        row.is_suspended = True
    for login, password in ((user.username, "wrong"), ("nobody", PASSWORD), ("", "")):
        body = assert_problem(
            await client.post(TOKEN_URL, json={"username": login, "password": password}), 401
        )
        assert body["detail"] == "Wrong user name, email or password."
    for blocked in (unconfirmed, suspended):
        assert_problem(
            await client.post(TOKEN_URL, json={"username": blocked.username, "password": PASSWORD}),
            403,
        )


async def test_token_rate_limit(client: httpx.AsyncClient, db: Database) -> None:
    user = make_user(db)
    for _attempt in range(5):
        wrong = {"username": user.username, "password": "wrong"}
        assert_problem(await client.post(TOKEN_URL, json=wrong), 401)
    right = {"username": user.username, "password": PASSWORD}
    assert_problem(await client.post(TOKEN_URL, json=right), 429)


async def test_me(client: httpx.AsyncClient, db: Database) -> None:
    user = make_user(db, display_name="<i>Zoé</i>", language="en")
    headers = await api_token(client, user)
    response = await client.get("/api/v1/me", headers=headers)
    assert response.status_code == 200
    me = response.json()
    assert me == {
        "username": user.username,
        "email": user.email,
        "display_name": "<i>Zoé</i>",
        "language": "en",
        "is_admin": False,
        "federation": False,
        "reminders": "",
        "handle": None,
        "created_at": me["created_at"],
    }
    assert me["created_at"].startswith(str(user.created_at.year))


async def test_me_needs_a_bearer_token(client: httpx.AsyncClient, db: Database) -> None:
    user = make_user(db)
    assert_problem(await client.get("/api/v1/me"), 401)
    assert_problem(await client.get("/api/v1/me", headers={"Authorization": "Bearer nope"}), 401)
    assert_problem(await client.get("/api/v1/me", headers={"Authorization": "Basic eDp5"}), 401)
    await log_in(client, user)
    response = await client.get("/api/v1/me")
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_patch_me(client: httpx.AsyncClient, db: Database) -> None:
    user = make_user(db)
    headers = await api_token(client, user)
    response = await client.patch(
        "/api/v1/me",
        headers=headers,
        json={"display_name": " Zoé ", "language": "en", "federation": True},
    )
    assert response.status_code == 200
    me = response.json()
    assert (me["display_name"], me["language"], me["federation"]) == ("Zoé", "en", True)
    assert me["handle"] == f"{user.username}@testserver"
    unchanged = await client.patch("/api/v1/me", headers=headers, json={})
    assert unchanged.json() == me
    off = await client.patch("/api/v1/me", headers=headers, json={"federation": False})
    assert off.json()["handle"] is None
    with db.read() as session:
        row = session.get(User, user.id)
    assert row is not None and not row.federation_enabled and row.display_name == "Zoé"


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"username": "new", "is_admin": True}, {"username", "is_admin"}),
        ({"display_name": 3}, {"display_name"}),
        ({"display_name": None}, {"display_name"}),
        ({"language": ["en"]}, {"language"}),
        ({"language": "de"}, {"language"}),
        ({"federation": "yes"}, {"federation"}),
        ({"federation": 1}, {"federation"}),
        ({"display_name": "x" * 101}, {"display_name"}),
        ({"display_name": "a\u0007b"}, {"display_name"}),
    ],
)
async def test_patch_me_bad_inputs(
    client: httpx.AsyncClient, db: Database, payload: dict[str, Any], fields: set[str]
) -> None:
    headers = await api_token(client, make_user(db))
    body = assert_problem(await client.patch("/api/v1/me", headers=headers, json=payload), 422)
    assert set(body["errors"]) == fields


async def test_patch_me_needs_a_json_object(client: httpx.AsyncClient, db: Database) -> None:
    headers = await api_token(client, make_user(db))
    for content in (b"[]", b"nope", b"null"):
        response = await client.patch(
            "/api/v1/me", headers={**headers, "content-type": "application/json"}, content=content
        )
        assert_problem(response, 400)
    assert_problem(await client.patch("/api/v1/me", json={"display_name": "x"}), 401)


async def test_export_by_api(client: httpx.AsyncClient, db: Database) -> None:
    user = make_user(db)
    association = make_association(db, user, name="Atelier vélo")
    headers = await api_token(client, user)
    response = await client.get("/api/v1/me/export", headers=headers)
    assert response.status_code == 200
    data = response.json()
    assert data["profile"]["username"] == user.username
    assert data["memberships"][0]["association"] == {
        "slug": association.slug,
        "name": "Atelier vélo",
    }
    assert_problem(await client.get("/api/v1/me/export"), 401)


async def test_delete_me(client: httpx.AsyncClient, db: Database) -> None:
    user = make_user(db)
    owner = make_user(db)
    association = make_association(db, owner)
    kept = make_membership(db, association, user)
    headers = await api_token(client, user)
    body = assert_problem(await client.request("DELETE", "/api/v1/me", headers=headers), 422)
    assert set(body["errors"]) == {"password"}
    wrong = await client.request("DELETE", "/api/v1/me", headers=headers, json={"password": "no"})
    assert set(assert_problem(wrong, 422)["errors"]) == {"password"}
    typed = await client.request("DELETE", "/api/v1/me", headers=headers, json={"password": 1})
    assert_problem(typed, 422)
    done = await client.request(
        "DELETE", "/api/v1/me", headers=headers, json={"password": PASSWORD}
    )
    assert done.status_code == 204
    assert_problem(await client.get("/api/v1/me", headers=headers), 401)
    with db.read() as session:
        row = session.get(Membership, kept.id)
        assert session.exec(select(ApiToken)).all() == []
    assert row is not None and row.user_id is None and row.status == "left"


async def test_delete_me_refused_for_the_only_owner(
    client: httpx.AsyncClient, db: Database
) -> None:
    user = make_user(db)
    association = make_association(db, user)
    make_membership(db, association, make_user(db))
    headers = await api_token(client, user)
    response = await client.request(
        "DELETE", "/api/v1/me", headers=headers, json={"password": PASSWORD}
    )
    body = assert_problem(response, 409)
    assert "only owner" in body["detail"]
