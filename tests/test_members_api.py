"""The members API: listing with cursors, answers to requests, roles, removal, invitations."""

import httpx
import pytest

from instance import associations
from schema.db import Database
from schema.tables import Association, Membership, User
from tests.conftest import SentMail
from tests.factories import (
    api_token,
    csrf_from,
    log_in,
    make_association,
    make_membership,
    make_user,
)

MEMBER_KEYS = {"id", "username", "display_name", "role", "status", "permissions", "joined_at"}


def members_path(association: Association, suffix: str = "") -> str:
    return f"/api/v1/associations/{association.slug}/members{suffix}"


def owner_row(db: Database, association: Association, owner: User) -> Membership:
    with db.read() as session:
        found = associations.membership_of(session, association, owner)
    assert found is not None
    return found


async def test_cursor_pagination_over_120_members_returns_each_once(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner = make_user(db)
    association = make_association(db, owner)
    people = [make_user(db) for _ in range(10)]
    made = [make_membership(db, association, person) for person in people]
    made += [make_membership(db, association, None, label=f"Link {n}") for n in range(110)]
    headers = await api_token(client, owner)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "25", **({"cursor": cursor} if cursor else {})}
        response = await client.get(members_path(association), params=params, headers=headers)
        assert response.status_code == 200
        body = response.json()
        assert len(body["items"]) <= 25
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    expected = {m.id for m in made} | {owner_row(db, association, owner).id}
    assert len(seen) == len(expected) == 121
    assert set(seen) == expected
    assert pages == 5


async def test_member_shape(client: httpx.AsyncClient, db: Database) -> None:
    owner = make_user(db, display_name="Boss")
    association = make_association(db, owner)
    make_membership(db, association, None, label="Kiosque")
    make_membership(db, association, None)
    headers = {**await api_token(client, owner), "Accept-Language": "en"}
    items = (await client.get(members_path(association), headers=headers)).json()["items"]
    first, link, deleted = items
    assert set(first) == MEMBER_KEYS
    assert (first["username"], first["display_name"], first["role"]) == (
        owner.username,
        "Boss",
        "owner",
    )
    assert first["permissions"] == {
        "view_actions": True,
        "edit_actions": True,
        "manage_members": True,
        "manage_settings": True,
    }
    assert first["joined_at"] is not None
    assert (link["username"], link["display_name"]) == (None, "Kiosque")
    assert (deleted["username"], deleted["display_name"]) == (None, "Deleted account")
    assert not any(link["permissions"].values())


async def test_who_may_list(client: httpx.AsyncClient, db: Database) -> None:
    owner = make_user(db)
    association = make_association(db, owner)
    hidden = make_association(db, owner, is_hidden=True)
    volunteer, viewer, outsider = make_user(db), make_user(db), make_user(db)
    make_membership(db, association, volunteer)
    make_membership(db, association, viewer, role="manager", perm_view_actions=True)
    assert (await client.get(members_path(association))).status_code == 401
    volunteer_headers = await api_token(client, volunteer)
    assert (
        await client.get(members_path(association), headers=volunteer_headers)
    ).status_code == 403
    viewer_headers = await api_token(client, viewer)
    assert (await client.get(members_path(association), headers=viewer_headers)).status_code == 200
    outsider_headers = await api_token(client, outsider)
    assert (await client.get(members_path(hidden), headers=outsider_headers)).status_code == 404
    filtered = await client.get(
        members_path(association), params={"status": "left"}, headers=viewer_headers
    )
    assert filtered.json()["items"] == []
    bad = await client.get(
        members_path(association), params={"status": "gone"}, headers=viewer_headers
    )
    assert bad.status_code == 422 and "status" in bad.json()["errors"]
    bad = await client.get(
        members_path(association), params={"cursor": "eyJhIjoxfQ"}, headers=viewer_headers
    )
    assert bad.status_code == 422 and "cursor" in bad.json()["errors"]


async def test_accept_refuse_and_conflicts(
    client: httpx.AsyncClient, db: Database, mail: SentMail
) -> None:
    owner = make_user(db)
    association = make_association(db, owner, join_policy="moderated")
    first = make_user(db, email="first@example.org", language="en")
    second = make_user(db, email="second@example.org", language="en")
    one = make_membership(db, association, first, status="pending")
    two = make_membership(db, association, second, status="pending")
    headers = await api_token(client, owner)
    accepted = await client.post(members_path(association, f"/{one.id}/accept"), headers=headers)
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "active" and accepted.json()["joined_at"]
    assert "accepted" in mail.body(mail.last_to("first@example.org"))
    again = await client.post(members_path(association, f"/{one.id}/accept"), headers=headers)
    assert again.status_code == 409
    refused = await client.post(members_path(association, f"/{two.id}/refuse"), headers=headers)
    assert refused.status_code == 200 and refused.json()["status"] == "refused"
    mail.last_to("second@example.org")
    unknown = await client.post(members_path(association, "/999999/accept"), headers=headers)
    assert unknown.status_code == 404
    other = make_association(db, owner, join_policy="moderated")
    elsewhere = make_membership(db, other, make_user(db), status="pending")
    crossed = await client.post(
        members_path(association, f"/{elsewhere.id}/accept"), headers=headers
    )
    assert crossed.status_code == 404
    stray = await client.post(
        members_path(association, f"/{two.id}/refuse"), json={"why": "x"}, headers=headers
    )
    assert stray.status_code == 422 and "why" in stray.json()["errors"]


async def test_manager_without_manage_members_gets_403(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner, viewer = make_user(db), make_user(db)
    association = make_association(db, owner, join_policy="moderated")
    make_membership(db, association, viewer, role="manager", perm_view_actions=True)
    pending = make_membership(db, association, make_user(db), status="pending")
    active = make_membership(db, association, make_user(db))
    headers = await api_token(client, viewer)
    for action in ("accept", "refuse"):
        response = await client.post(
            members_path(association, f"/{pending.id}/{action}"), headers=headers
        )
        assert response.status_code == 403
    patched = await client.patch(
        members_path(association, f"/{active.id}"), json={"role": "manager"}, headers=headers
    )
    assert patched.status_code == 403
    removed = await client.delete(members_path(association, f"/{active.id}"), headers=headers)
    assert removed.status_code == 403
    invited = await client.post(
        f"/api/v1/associations/{association.slug}/invitations",
        json={"email": "a@example.org"},
        headers=headers,
    )
    assert invited.status_code == 403


async def test_patch_roles_and_permissions(client: httpx.AsyncClient, db: Database) -> None:
    owner, manager = make_user(db), make_user(db)
    association = make_association(db, owner)
    make_membership(db, association, manager, role="manager", perm_manage_members=True)
    target = make_membership(db, association, make_user(db))
    headers = await api_token(client, manager)
    path = members_path(association, f"/{target.id}")
    greedy = await client.patch(
        path,
        json={"role": "manager", "permissions": {"manage_settings": True}},
        headers=headers,
    )
    assert greedy.status_code == 403
    owner_made = await client.patch(path, json={"role": "owner"}, headers=headers)
    assert owner_made.status_code == 403
    fine = await client.patch(
        path,
        json={"role": "manager", "permissions": {"manage_members": True}},
        headers=headers,
    )
    assert fine.status_code == 200
    owner_headers = await api_token(client, owner)
    assert fine.json()["permissions"] == {
        "view_actions": False,
        "edit_actions": False,
        "manage_members": True,
        "manage_settings": False,
    }
    for body, field in (
        ({"role": 3}, "role"),
        ({"role": "chief"}, "role"),
        ({"permissions": []}, "permissions"),
        ({"permissions": {"fly": True}}, "permissions.fly"),
        ({"permissions": {"view_actions": "yes"}}, "permissions.view_actions"),
        ({"label": "x"}, "label"),
        ({"role": "manager", "permissions": {"edit_actions": None}}, "permissions.edit_actions"),
    ):
        response = await client.patch(path, json=body, headers=owner_headers)
        assert response.status_code == 422, body
        assert field in response.json()["errors"], body


async def test_last_owner_cannot_be_demoted_or_removed(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner = make_user(db)
    association = make_association(db, owner)
    mine = owner_row(db, association, owner)
    headers = await api_token(client, owner)
    path = members_path(association, f"/{mine.id}")
    demoted = await client.patch(path, json={"role": "volunteer"}, headers=headers)
    assert demoted.status_code == 409
    removed = await client.delete(path, headers=headers)
    assert removed.status_code == 409
    second = make_membership(db, association, make_user(db), role="owner")
    assert (await client.patch(path, json={"role": "manager"}, headers=headers)).status_code == 200
    last = members_path(association, f"/{second.id}")
    assert (
        await client.patch(last, json={"role": "volunteer"}, headers=headers)
    ).status_code == 403


async def test_delete_member_keeps_the_row(client: httpx.AsyncClient, db: Database) -> None:
    owner = make_user(db)
    association = make_association(db, owner)
    target = make_membership(db, association, make_user(db))
    headers = await api_token(client, owner)
    response = await client.delete(members_path(association, f"/{target.id}"), headers=headers)
    assert response.status_code == 204
    with db.read() as session:
        row = session.get(Membership, target.id)
    assert row is not None and row.status == "left"
    missing = await client.delete(members_path(association, "/424242"), headers=headers)
    assert missing.status_code == 404


async def test_invitation_by_api_end_to_end(
    client: httpx.AsyncClient,
    db: Database,
    mail: SentMail,
    make_client,  # type: ignore[no-untyped-def]
) -> None:
    owner = make_user(db)
    association = make_association(db, owner, join_policy="invitation", is_hidden=True)
    headers = await api_token(client, owner)
    path = f"/api/v1/associations/{association.slug}/invitations"
    created = await client.post(
        path, json={"email": "new@example.org", "role": "manager"}, headers=headers
    )
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"id", "email", "expires_at"} and body["email"] == "new@example.org"
    link = mail.link_in(mail.last_to("new@example.org"))
    guest = make_client()
    person = make_user(db, email="new@example.org")
    await log_in(guest, person)
    page = await guest.get(link)
    assert page.status_code == 200
    assert (await guest.post(link, data={"csrf_token": csrf_from(page.text)})).status_code == 303
    with db.read() as session:
        row = associations.membership_of(session, association, person)
    assert row is not None and (row.status, row.role) == ("active", "manager")
    for bad, field in (({}, "email"), ({"email": "nope"}, "email"), ({"email": 1}, "email")):
        response = await client.post(path, json=bad, headers=headers)
        assert response.status_code == 422 and field in response.json()["errors"]


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_member_endpoints_need_a_token(
    client: httpx.AsyncClient, db: Database, method: str
) -> None:
    owner = make_user(db)
    association = make_association(db, owner)
    mine = owner_row(db, association, owner)
    response = await client.request(method, members_path(association, f"/{mine.id}"), json={})
    assert response.status_code == 401
