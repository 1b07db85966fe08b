"""Admin pages: who may see them, statistics, accounts and associations."""

import re
from datetime import timedelta

import httpx
from sqlmodel import select

from instance.config import Config
from instance.secrets import new_token, token_hash
from schema.db import Database
from schema.tables import ApiToken, Association, User
from schema.tables._base import utcnow
from tests.factories import csrf_from, log_in, make_association, make_membership, make_user

PAGES = [
    "/admin",
    "/admin/users",
    "/admin/associations",
    "/admin/settings",
    "/admin/announcements",
    "/admin/invitations",
]
POSTS = [
    "/admin/users/1/suspend",
    "/admin/users/1/unsuspend",
    "/admin/users/1/admin",
    "/admin/users/1/unadmin",
    "/admin/associations/1/suspend",
    "/admin/associations/1/unsuspend",
    "/admin/settings",
    "/admin/announcements",
    "/admin/announcements/1/delete",
    "/admin/invitations",
    "/admin/invitations/1/cancel",
]


async def admin_client(client: httpx.AsyncClient, db: Database) -> User:
    """Sign the client in as a fresh instance admin."""
    admin = make_user(db, username="boss", is_admin=True)
    await log_in(client, admin)
    return admin


async def press(client: httpx.AsyncClient, path: str, origin: str, **data: str) -> httpx.Response:
    """Press a button of a page (with the page's CSRF token)."""
    token = csrf_from((await client.get(origin)).text)
    return await client.post(path, data={**data, "csrf_token": token})


def reload(db: Database, model: type, row_id: int):  # type: ignore[no-untyped-def]
    with db.read() as session:
        return session.get(model, row_id)


async def test_anonymous_visitors_are_sent_to_login(client: httpx.AsyncClient) -> None:
    for path in PAGES:
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == f"/login?next={path}"


async def test_other_people_get_403_everywhere(
    client: httpx.AsyncClient, config: Config, db: Database
) -> None:
    person = make_user(db)
    make_user(db, username="boss", is_admin=True)
    await log_in(client, person)
    for path in PAGES:
        response = await client.get(path)
        assert response.status_code == 403, path
        assert "Administration" not in response.text.split("<main", 1)[1]
    token = csrf_from((await client.get("/about/terms")).text)
    for path in POSTS:
        response = await client.post(path, data={"csrf_token": token, "title": "x"})
        assert response.status_code == 403, path
    with db.read() as session:
        assert not session.get(User, person.id).is_admin  # type: ignore[union-attr]


async def test_posts_without_csrf_token_are_refused(
    client: httpx.AsyncClient, config: Config, db: Database
) -> None:
    await admin_client(client, db)
    target = make_user(db)
    response = await client.post(f"/admin/users/{target.id}/suspend", data={})
    assert response.status_code == 403
    assert not reload(db, User, target.id).is_suspended  # type: ignore[arg-type]


async def test_dashboard_counts(client: httpx.AsyncClient, config: Config, db: Database) -> None:
    admin = await admin_client(client, db)
    recent = make_user(db)
    make_user(db, email_confirmed=False)
    make_user(db)
    suspended = make_user(db)
    with db.write() as session:
        for user_id, days in ((recent.id, 2), (admin.id, 40)):
            row = session.get(User, user_id)
            assert row is not None
            row.last_login_at = utcnow() - timedelta(days=days)
        session.get(User, suspended.id).is_suspended = True  # type: ignore[union-attr]
    public = make_association(db, recent)
    hidden = make_association(db, recent, is_hidden=True, is_network=True)
    with db.write() as session:
        row = session.get(Association, hidden.id)
        row.is_archived = True  # type: ignore[union-attr]
        row.is_suspended = True  # type: ignore[union-attr]
    make_membership(db, public, admin, status="pending")
    make_membership(db, hidden, suspended)

    response = await client.get("/admin")
    assert response.status_code == 200
    stats = dict(re.findall(r'<dd id="stat-([a-z-]+)">(\d+)</dd>', response.text))
    assert stats == {
        "users": "5",
        "confirmed": "4",
        "active": "1",
        "admins": "1",
        "suspended-users": "1",
        "associations": "2",
        "public": "1",
        "hidden": "1",
        "archived": "1",
        "suspended-associations": "1",
        "networks": "1",
        "active-memberships": "3",
        "pending-memberships": "1",
    }
    for link in ("/admin/users", "/admin/associations", "/admin/settings", "/admin/invitations"):
        assert f'href="{link}"' in response.text


async def test_user_list_search_and_pages(
    client: httpx.AsyncClient, config: Config, db: Database
) -> None:
    await admin_client(client, db)
    make_user(db, username="martine", email="m.dupont@example.org", display_name="Martine D.")
    make_user(db, username="zoe", email="zoe@example.org", display_name="Zoé <b>Bold</b>")
    for number in range(55):
        make_user(db, username=f"crowd{number:02d}", email=f"crowd{number:02d}@example.org")

    first = await client.get("/admin/users")
    assert first.status_code == 200
    assert "58 accounts found." in first.text
    assert first.text.count('<li class="card" id="user-') == 50
    assert "Page 1 of 2" in first.text and "page=2" in first.text
    second = await client.get("/admin/users", params={"page": "2"})
    assert second.text.count('<li class="card" id="user-') == 8 and "zoe" in second.text
    assert "Zoé &lt;b&gt;Bold&lt;/b&gt;" in second.text and "<b>Bold" not in second.text

    for query in ("DUPONT", "martine d", "Martine"):
        found = await client.get("/admin/users", params={"q": query})
        assert "1 account found." in found.text and "m.dupont@example.org" in found.text
    for query in ("%", "_", "' OR 1=1 --", "<script>alert(1)</script>"):
        found = await client.get("/admin/users", params={"q": query})
        assert found.status_code == 200
        assert "0 accounts found." in found.text, query
    escaped = await client.get("/admin/users", params={"q": "<script>"})
    assert "<script>" not in escaped.text and "&lt;script&gt;" in escaped.text
    for page in ("0", "-3", "abc", "999", "9" * 30):
        odd = await client.get("/admin/users", params={"page": page})
        assert odd.status_code == 200 and '<li class="card" id="user-' in odd.text


async def test_suspension_stops_sessions_and_tokens_at_once(
    client: httpx.AsyncClient, make_client, config: Config, db: Database
) -> None:  # type: ignore[no-untyped-def]
    await admin_client(client, db)
    person = make_user(db, is_admin=True)
    raw = new_token()
    with db.write() as session:
        session.add(ApiToken(user_id=person.id, token_hash=token_hash(raw), label="phone"))  # type: ignore[arg-type]
    browser = make_client()
    await log_in(browser, person)
    program = make_client()
    program.headers["Authorization"] = f"Bearer {raw}"
    assert (await browser.get("/admin")).status_code == 200
    assert (await program.get("/api/v1/me")).status_code == 200

    response = await press(client, f"/admin/users/{person.id}/suspend", "/admin/users")
    assert response.status_code == 303
    assert reload(db, User, person.id).is_suspended  # type: ignore[arg-type]
    listing = await client.get(response.headers["location"])
    assert f"The account {person.username} is suspended." in listing.text

    assert (await browser.get("/admin")).status_code == 303
    page = await browser.get("/about/terms")
    assert "Log out" not in page.text and 'href="/login"' in page.text
    assert (await program.get("/api/v1/me")).status_code == 401

    back = await press(client, f"/admin/users/{person.id}/unsuspend", "/admin/users")
    assert back.status_code == 303
    assert not reload(db, User, person.id).is_suspended  # type: ignore[arg-type]
    assert (await browser.get("/admin")).status_code == 200
    assert (await program.get("/api/v1/me")).status_code == 200


async def test_admin_cannot_suspend_themselves(
    client: httpx.AsyncClient, config: Config, db: Database
) -> None:
    admin = await admin_client(client, db)
    response = await press(client, f"/admin/users/{admin.id}/suspend", "/admin/users", q="bo")
    assert response.status_code == 422
    assert "You cannot suspend your own account." in response.text
    assert 'name="q" value="bo"' in response.text
    assert not reload(db, User, admin.id).is_suspended  # type: ignore[arg-type]


async def test_admin_role_given_and_taken_never_from_the_last_admin(
    client: httpx.AsyncClient, config: Config, db: Database
) -> None:
    admin = await admin_client(client, db)
    person = make_user(db)
    last = await press(client, f"/admin/users/{admin.id}/unadmin", "/admin/users")
    assert last.status_code == 422 and "at least one admin" in last.text
    assert reload(db, User, admin.id).is_admin  # type: ignore[arg-type]

    made = await press(client, f"/admin/users/{person.id}/admin", "/admin/users", q="x", page="2")
    assert made.status_code == 303 and made.headers["location"] == "/admin/users?q=x&page=2"
    assert reload(db, User, person.id).is_admin  # type: ignore[arg-type]

    # A suspended admin does not count: someone must still be able to come in.
    suspended = await press(client, f"/admin/users/{person.id}/suspend", "/admin/users")
    assert suspended.status_code == 303
    refused = await press(client, f"/admin/users/{admin.id}/unadmin", "/admin/users")
    assert refused.status_code == 422
    await press(client, f"/admin/users/{person.id}/unsuspend", "/admin/users")
    taken = await press(client, f"/admin/users/{person.id}/unadmin", "/admin/users")
    assert taken.status_code == 303
    assert not reload(db, User, person.id).is_admin  # type: ignore[arg-type]

    # With another admin around, an admin may step down, and leaves the admin pages.
    await press(client, f"/admin/users/{person.id}/admin", "/admin/users")
    stepped_down = await press(client, f"/admin/users/{admin.id}/unadmin", "/admin/users")
    assert stepped_down.status_code == 303 and stepped_down.headers["location"] == "/"
    assert not reload(db, User, admin.id).is_admin  # type: ignore[arg-type]
    assert (await client.get("/admin")).status_code == 403


async def test_actions_on_unknown_ids_are_404(
    client: httpx.AsyncClient, config: Config, db: Database
) -> None:
    await admin_client(client, db)
    for path in (
        "/admin/users/9999/suspend",
        "/admin/users/9999/admin",
        "/admin/associations/9999/suspend",
        "/admin/announcements/9999/delete",
        "/admin/invitations/9999/cancel",
    ):
        response = await press(client, path, "/admin/users")
        assert response.status_code == 404, path
    not_a_number = await press(client, "/admin/users/abc/suspend", "/admin/users")
    assert not_a_number.status_code == 404
    wrong_method = await client.get("/admin/users/1/suspend")
    assert wrong_method.status_code == 405


async def test_association_list_and_suspension(
    client: httpx.AsyncClient, make_client, config: Config, db: Database
) -> None:  # type: ignore[no-untyped-def]
    await admin_client(client, db)
    owner = make_user(db)
    visible = make_association(db, owner, name="Les Jardins <em>Partagés</em>")
    hidden = make_association(db, owner, name="Cercle discret", is_hidden=True)
    listing = await client.get("/admin/associations")
    assert "2 associations found." in listing.text
    assert "Cercle discret" in listing.text
    assert "Les Jardins &lt;em&gt;Partagés&lt;/em&gt;" in listing.text
    found = await client.get("/admin/associations", params={"q": "jardins"})
    assert "1 association found." in found.text and "Cercle" not in found.text
    by_slug = await client.get("/admin/associations", params={"q": hidden.slug})
    assert "Cercle discret" in by_slug.text

    directory = make_client()
    assert "Les Jardins" in (await directory.get("/associations")).text
    response = await press(
        client, f"/admin/associations/{visible.id}/suspend", "/admin/associations", q="jard"
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/associations?q=jard"
    with db.read() as session:
        row = session.exec(select(Association).where(Association.id == visible.id)).one()
        assert row.is_suspended
    after = await client.get(response.headers["location"])
    assert "is suspended." in after.text and "Lift suspension" in after.text
    assert "Les Jardins" not in (await directory.get("/associations")).text

    back = await press(client, f"/admin/associations/{visible.id}/unsuspend", "/admin/associations")
    assert back.status_code == 303
    assert not reload(db, Association, visible.id).is_suspended  # type: ignore[arg-type]
    assert "Les Jardins" in (await directory.get("/associations")).text
