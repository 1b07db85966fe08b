"""The association page's fediverse parts, the follow requests page, and the admin menu."""

import re
from typing import Any

import httpx
from sqlmodel import select
from starlette.routing import Route

from federation import notes
from instance.config import Config
from schema.db import Database
from schema.tables import Association, Follow, OutboxActivity, RemoteActor, User
from tests.factories import csrf_from, log_in, make_association, make_membership, make_user
from web.routes import build_routes

INJECTION = "<script>alert('x')</script>\"' OR 1=1; --"


def follower(db: Database, association: Association, name: str, state: str = "pending") -> Follow:
    """A remote account following (or asking to follow) the association."""
    with db.write() as session:
        remote = RemoteActor(
            uri=f"https://social.example/users/{name}",
            host="social.example",
            preferred_username=name,
            name=INJECTION,
            inbox=f"https://social.example/users/{name}/inbox",
        )
        session.add(remote)
        session.flush()
        assert remote.id is not None
        follow = Follow(
            direction="in",
            local_kind="association",
            local_id=association.id,
            remote_actor_id=remote.id,
            follow_activity_id=f"https://social.example/follows/{name}",
            state=state,
        )
        session.add(follow)
        session.flush()
        return follow


def world(db: Database, **settings: Any) -> tuple[User, Association]:
    """An owner and their association that approves followers by hand."""
    owner = make_user(db)
    association = make_association(db, owner, **settings)
    with db.write() as session:
        row = session.get(Association, association.id)
        assert row is not None
        row.approve_follows = True
        session.add(row)
        session.flush()
        return owner, row


def state_of(db: Database, follow: Follow) -> str:
    with db.read() as session:
        row = session.get(Follow, follow.id)
        assert row is not None
        return row.state


def answers(db: Database) -> list[str]:
    """Types of the activities queued so far."""
    with db.read() as session:
        return [row.activity_type for row in session.exec(select(OutboxActivity))]


async def post_button(client: httpx.AsyncClient, page: str, action: str) -> httpx.Response:
    loaded = await client.get(page)
    return await client.post(action, data={"csrf_token": csrf_from(loaded.text)})


async def test_requests_page_lists_waiting_requests_escaped(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner, association = world(db)
    waiting = follower(db, association, "alex")
    follower(db, association, "sam", state="accepted")
    await log_in(client, owner)
    response = await client.get(f"/associations/{association.slug}/follow-requests")
    assert response.status_code == 200
    text = response.text
    assert "alex@social.example" in text and "sam@social.example" not in text
    assert INJECTION not in text and "&lt;script&gt;" in text
    assert f"/follow-requests/{waiting.id}/accept" in text
    assert f"/follow-requests/{waiting.id}/refuse" in text
    assert "1 follower on the fediverse" in text
    assert "New followers are accepted at once" not in text


async def test_requests_page_without_requests_says_so(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner = make_user(db)
    association = make_association(db, owner)
    await log_in(client, owner)
    response = await client.get(f"/associations/{association.slug}/follow-requests")
    assert response.status_code == 200
    assert "No follow request is waiting." in response.text
    assert "New followers are accepted at once" in response.text


async def test_accept_and_refuse(client: httpx.AsyncClient, db: Database) -> None:
    owner, association = world(db)
    first = follower(db, association, "alex")
    second = follower(db, association, "sam")
    await log_in(client, owner)
    page = f"/associations/{association.slug}/follow-requests"
    response = await post_button(client, page, f"{page}/{first.id}/accept")
    assert response.status_code == 303 and response.headers["location"] == page
    response = await post_button(client, page, f"{page}/{second.id}/refuse")
    assert response.status_code == 303
    assert (state_of(db, first), state_of(db, second)) == ("accepted", "rejected")
    assert sorted(answers(db)) == ["Accept", "Reject"]
    text = (await client.get(page)).text
    assert "The request of sam@social.example is refused." in text
    assert "No follow request is waiting." in text
    assert "1 follower on the fediverse" in text


async def test_accepting_a_refused_request_is_refused_plainly(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner, association = world(db)
    refused = follower(db, association, "alex", state="rejected")
    await log_in(client, owner)
    page = f"/associations/{association.slug}/follow-requests"
    response = await post_button(client, page, f"{page}/{refused.id}/accept")
    assert response.status_code == 303
    assert state_of(db, refused) == "rejected"
    assert "no longer waiting for an answer" in (await client.get(page)).text
    assert answers(db) == []


async def test_unknown_foreign_and_huge_ids_are_404(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner, association = world(db)
    _other_owner, other = world(db)
    foreign = follower(db, other, "alex")
    make_membership(db, other, owner, role="owner")
    await log_in(client, owner)
    page = f"/associations/{association.slug}/follow-requests"
    for follow_id in (foreign.id, 999_999, 2**40, 0):
        response = await post_button(client, page, f"{page}/{follow_id}/accept")
        assert response.status_code == 404, follow_id
    response = await post_button(client, page, f"{page}/not-a-number/accept")
    assert response.status_code in {404, 405}
    assert state_of(db, foreign) == "pending" and answers(db) == []


async def test_only_managers_of_the_settings_may_answer(
    client: httpx.AsyncClient, make_client: Any, db: Database
) -> None:
    owner, association = world(db)
    waiting = follower(db, association, "alex")
    page = f"/associations/{association.slug}/follow-requests"
    anonymous = await client.get(page)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    volunteer = make_user(db)
    make_membership(db, association, volunteer)
    manager = make_user(db)
    make_membership(db, association, manager, role="manager", perm_manage_members=True)
    for person in (volunteer, manager):
        other = make_client()
        await log_in(other, person)
        assert (await other.get(page)).status_code in {403, 404}
        token = csrf_from((await other.get("/account")).text)
        response = await other.post(f"{page}/{waiting.id}/accept", data={"csrf_token": token})
        assert response.status_code in {403, 404}
    await log_in(client, owner)
    no_csrf = await client.post(f"{page}/{waiting.id}/accept")
    assert no_csrf.status_code == 403
    assert state_of(db, waiting) == "pending" and answers(db) == []


async def test_association_page_shows_notes_followers_and_handle(
    client: httpx.AsyncClient, db: Database, config: Config
) -> None:
    owner, association = world(db, description="Jardins")
    follower(db, association, "alex", state="accepted")
    follower(db, association, "sam", state="accepted")
    with db.write() as session:
        for number in range(5):
            notes.publish_note(
                session,
                config=config,
                association=association,
                by=owner,
                content=f"Note {number} {INJECTION}",
            )
    response = await client.get(f"/associations/{association.slug}")
    assert response.status_code == 200
    text = response.text
    assert all(f"Note {n}" in text for n in (4, 3, 2))
    assert "Note 1" not in text and "Note 0" not in text
    assert INJECTION not in text and "&lt;script&gt;" in text
    assert f'href="/associations/{association.slug}/notes"' in text
    assert "2 followers on the fediverse" in text
    handle = re.search(r'<code class="handle"[^>]*>([^<]+)</code>', text)
    assert handle and handle.group(1) == f"@{association.slug}@testserver"
    assert "/follow-requests" not in text and "/settings" not in text


async def test_hidden_association_has_no_handle(client: httpx.AsyncClient, db: Database) -> None:
    owner, association = world(db, is_hidden=True)
    await log_in(client, owner)
    response = await client.get(f"/associations/{association.slug}")
    assert response.status_code == 200
    assert 'class="handle"' not in response.text
    assert "No public note yet." in response.text


async def test_managers_see_links_to_every_management_page(
    client: httpx.AsyncClient, make_client: Any, db: Database
) -> None:
    owner, association = world(db)
    follower(db, association, "alex")
    follower(db, association, "sam")
    await log_in(client, owner)
    text = (await client.get(f"/associations/{association.slug}")).text
    base = f"/associations/{association.slug}"
    for path in (
        "/actions",
        "/actions/pending",
        "/stats",
        "/rules",
        "/categories",
        "/projects",
        "/levels",
        "/members",
        "/access-links",
        "/notes/new",
        "/follow-requests",
        "/settings",
    ):
        assert f'href="{base}{path}"' in text, path
    assert "Follow requests (2 waiting)" in text
    settings = (await client.get(f"{base}/settings")).text
    assert f'href="{base}/follow-requests"' in settings

    volunteer = make_user(db)
    make_membership(db, association, volunteer)
    other = make_client()
    await log_in(other, volunteer)
    text = (await other.get(base)).text
    assert 'id="manage-heading"' not in text and "/follow-requests" not in text


async def test_admin_menu_links_every_admin_page(client: httpx.AsyncClient, db: Database) -> None:
    admin = make_user(db, is_admin=True)
    await log_in(client, admin)
    pages = {
        route.path
        for route in build_routes()
        if isinstance(route, Route)
        and "GET" in (route.methods or set())
        and (route.path == "/admin" or route.path.startswith("/admin/"))
        and "{" not in route.path
    }
    assert {"/admin/federation", "/admin/categories", "/admin/levels"} <= pages
    for page in sorted(pages):
        response = await client.get(page)
        assert response.status_code == 200, page
        menu = re.search(r'<nav class="admin-nav".*?</nav>', response.text, re.S)
        if page in {"/admin/categories", "/admin/levels"}:
            continue  # the defaults pages link back to /admin, whose menu is checked
        assert menu, page
        links = set(re.findall(r'href="([^"]+)"', menu.group(0)))
        assert pages <= links, (page, pages - links)
