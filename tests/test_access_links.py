"""Access links: the domain (create, list, revoke, resolve) and the pages they open."""

import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from instance import access_links
from instance.errors import Forbidden, Invalid, NotFound
from schema.db import Database
from schema.tables import Membership
from schema.tables._base import utcnow
from tests.factories import csrf_from
from tests.test_action_pages import actions_of, error_of, sign_in, submit
from tests.test_actions_support import World, make_world, record, set_rules, today

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def world(db: Database) -> World:
    return make_world(db)


def create(
    db: Database, world: World, label: str = "Dominique", **kw: Any
) -> tuple[Membership, str]:
    with db.write() as session:
        return access_links.create_link(
            session,
            association=world.association,
            by=kw.pop("by", world.owner),
            label=label,
            expires_on=kw.pop("expires_on", None),
            today=today(),
            zone=PARIS,
        )


def test_a_link_is_a_membership_without_account(db: Database, world: World) -> None:
    link, token = create(db, world, expires_on=today())
    assert link.user_id is None and link.label == "Dominique" and link.status == "active"
    assert link.access_token_hash and token not in link.access_token_hash
    assert access_links.last_day(link, PARIS) == today()
    with db.read() as session:
        assert access_links.find_by_token(session, token).id == link.id  # type: ignore[union-attr]
        assert access_links.find_by_token(session, token + "x") is None
        assert access_links.find_by_token(session, "") is None
        assert access_links.active_link(session, membership_id=link.id) is not None
        assert access_links.active_link(session, membership_id="1") is None
        listed = access_links.list_links(session, association=world.association, by=world.owner)
    assert [(item.membership.id, item.state, item.actions) for item in listed] == [
        (link.id, "active", 0)
    ]


def test_expiry_and_revocation(db: Database, world: World) -> None:
    link, _token = create(db, world, expires_on=today())
    later = datetime.combine(today() + timedelta(days=1), datetime.min.time(), tzinfo=PARIS)
    assert access_links.state_of(link, later.astimezone(ZoneInfo("UTC"))) == "expired"
    assert access_links.state_of(link, utcnow()) == "active"
    with db.write() as session:
        row = access_links.get_link(
            session, association=world.association, by=world.owner, link_id=link.id
        )
        access_links.revoke_link(session, link=row)
    with db.read() as session:
        assert access_links.active_link(session, membership_id=link.id) is None
        row = session.get(Membership, link.id)
        assert row is not None and access_links.state_of(row, utcnow()) == "revoked"


@pytest.mark.parametrize(
    ("label", "expires_on", "field"),
    [
        ("", None, "label"),
        ("   ", None, "label"),
        ("x" * 101, None, "label"),
        (None, None, "label"),
        ("Camille", date(2001, 1, 1), "expires_on"),
        ("Camille", date.today() + timedelta(days=4000), "expires_on"),
    ],
)
def test_bad_links_are_refused(
    db: Database, world: World, label: Any, expires_on: date | None, field: str
) -> None:
    with pytest.raises(Invalid) as caught:
        create(db, world, label=label, expires_on=expires_on)
    assert field in caught.value.errors


def test_only_managers_of_members_handle_links(db: Database, world: World) -> None:
    with pytest.raises(Forbidden):
        create(db, world, by=world.volunteer)
    with pytest.raises(Forbidden):
        create(db, world, by=world.manager)  # may edit actions, not manage members
    link, _token = create(db, world)
    other = make_world(db)
    with db.read() as session, pytest.raises(NotFound):
        access_links.get_link(
            session, association=other.association, by=other.owner, link_id=link.id
        )
    with db.read() as session, pytest.raises(NotFound):
        access_links.get_link(
            session, association=world.association, by=world.owner, link_id=world.member.id
        )


async def test_managers_create_list_and_close_links(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    page_url = f"/associations/{world.association.slug}/access-links"
    await sign_in(client, world.owner)
    response = await submit(client, page_url, {"label": "Dominique <i>", "expires_on": ""})
    assert response.status_code == 200
    match = re.search(r'id="new-link">http://testserver/a/([\w-]+)<', response.text)
    assert match, response.text
    assert "Dominique &lt;i&gt;" in response.text
    again = await client.get(page_url)
    assert match.group(1) not in again.text  # shown once only
    bad = await submit(client, page_url, {"label": "", "expires_on": "2020-01-01"})
    assert bad.status_code == 422
    assert error_of(bad.text, "label") == "Enter the name of the person."
    assert error_of(bad.text, "expires_on") == "The last day must not be in the past."
    worse = await submit(client, page_url, {"label": "A", "expires_on": "demain"})
    assert error_of(worse.text, "expires_on") == "Enter a date like 2024-03-31."
    with db.read() as session:
        [item] = access_links.list_links(session, association=world.association, by=world.owner)
    closed = await submit(client, f"{page_url}/{item.membership.id}/revoke", {}, page=page_url)
    assert closed.status_code == 303
    listing = await client.get(page_url)
    assert "Closed" in listing.text


async def test_links_page_needs_manage_members(make_client: Any, world: World) -> None:
    for person in (world.volunteer, world.manager):
        client = make_client()
        await sign_in(client, person)
        response = await client.get(f"/associations/{world.association.slug}/access-links")
        assert response.status_code == 403


async def test_a_link_records_lists_edits_and_deletes_its_own_actions(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    link, token = create(db, world)
    record(db, world, title="Someone else's")
    opened = await client.get(f"/a/{token}")
    assert opened.status_code == 303 and opened.headers["location"] == "/access"
    await client.get("/language?lang=en")
    home = await client.get("/access")
    assert home.status_code == 200
    assert "You record your actions as Dominique." in home.text
    assert "Someone else" not in home.text
    form = await client.get("/access/new")
    assert form.status_code == 200 and 'name="volunteer_id"' not in form.text
    data = {"date": today().isoformat(), "duration": "60", "category_id": world.category.id}
    saved = await client.post("/access/new", data={**data, "csrf_token": csrf_from(form.text)})
    assert saved.status_code == 303 and saved.headers["location"] == "/access"
    mine = [a for a in actions_of(db, world) if a.membership_id == link.id]
    assert len(mine) == 1 and mine[0].source == "access_link" and mine[0].created_by_id is None
    action = mine[0]
    edit = await submit(client, f"/access/actions/{action.id}/edit", {**data, "duration": "30"})
    assert edit.status_code == 303
    bad = await submit(
        client, f"/access/actions/{action.id}/edit", {**data, "duration": "other", "hours": "99"}
    )
    assert bad.status_code == 422
    again = await client.post(
        "/access/repeat", data={"csrf_token": csrf_from((await client.get("/access")).text)}
    )
    assert again.status_code == 303
    assert len([a for a in actions_of(db, world) if a.membership_id == link.id]) == 2
    deleted = await submit(client, f"/access/actions/{action.id}/delete", {})
    assert deleted.status_code == 303
    others = [a for a in actions_of(db, world) if a.membership_id != link.id]
    for path in (f"/access/actions/{others[0].id}/edit", f"/access/actions/{others[0].id}/delete"):
        assert (await client.get(path)).status_code == 404
    # No other page: the link is not an account.
    assert (await client.get(f"/associations/{world.association.slug}/actions")).status_code == 303
    assert (await client.get("/me/hours")).status_code == 303


async def test_a_logged_in_person_is_asked_to_log_out(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    _link, token = create(db, world)
    await sign_in(client, world.volunteer)
    response = await client.get(f"/a/{token}")
    assert response.status_code == 403
    assert "log out first" in response.text
    assert (await client.get("/access")).status_code == 403


async def test_expired_revoked_and_unknown_links(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    link, token = create(db, world)
    assert (await client.get(f"/a/{token}")).status_code == 303
    await client.get("/language?lang=en")
    with db.write() as session:
        row = session.get(Membership, link.id)
        assert row is not None
        row.access_expires_at = utcnow() - timedelta(minutes=1)
        session.add(row)
    expired = await client.get(f"/a/{token}")
    assert expired.status_code == 410 and "This access link has expired." in expired.text
    refused = await client.get("/access")
    assert refused.status_code == 403 and "not valid any more" in refused.text
    second, token2 = create(db, world, label="Sam")
    with db.write() as session:
        row = session.get(Membership, second.id)
        assert row is not None
        access_links.revoke_link(session, link=row)
    revoked = await client.get(f"/a/{token2}")
    assert revoked.status_code == 410 and "closed this access link" in revoked.text
    unknown = await client.get("/a/not-a-real-token")
    assert unknown.status_code == 404 and "does not exist" in unknown.text


async def test_archived_association_stops_recording(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    _link, token = create(db, world)
    await client.get(f"/a/{token}")
    await client.get("/language?lang=en")
    set_rules(db, world.association, is_archived=True)
    response = await client.get("/access/new")
    assert response.status_code == 403
    assert "does not record actions any more" in response.text


async def test_forget_the_link(client: httpx.AsyncClient, db: Database, world: World) -> None:
    _link, token = create(db, world)
    await client.get(f"/a/{token}")
    home = await client.get("/access")
    response = await client.post("/access/leave", data={"csrf_token": csrf_from(home.text)})
    assert response.status_code == 200
    assert (await client.get("/access")).status_code == 403
