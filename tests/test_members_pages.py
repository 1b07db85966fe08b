"""Member pages over HTTP: joining, requests with their mails, roles, leaving, invitations."""

from collections.abc import Callable

import httpx
import pytest

from instance import associations, invitations
from schema.db import Database
from schema.tables import Association, Membership, User
from tests.conftest import SentMail
from tests.factories import csrf_from, log_in, make_association, make_membership, make_user

EN = {"Accept-Language": "en"}


async def token_of(client: httpx.AsyncClient) -> str:
    return csrf_from((await client.get("/dashboard")).text)


async def post(client: httpx.AsyncClient, path: str, **data: str) -> httpx.Response:
    return await client.post(path, data={"csrf_token": await token_of(client), **data})


def membership(db: Database, association: Association, user: User) -> Membership:
    with db.read() as session:
        found = associations.membership_of(session, association, user)
    assert found is not None
    return found


async def test_open_join_makes_an_active_member(client: httpx.AsyncClient, db: Database) -> None:
    association = make_association(db, make_user(db))
    person = make_user(db)
    await log_in(client, person)
    response = await post(client, f"/associations/{association.slug}/join")
    assert response.status_code == 303
    assert membership(db, association, person).status == "active"
    again = await post(client, f"/associations/{association.slug}/join")
    assert again.status_code == 303
    assert "flash-error" in (await client.get(response.headers["location"])).text


async def test_moderated_join_mails_managers_then_accept_mails_the_person(
    client: httpx.AsyncClient,
    db: Database,
    mail: SentMail,
    make_client: Callable[[], httpx.AsyncClient],
) -> None:
    owner = make_user(db, email="owner@example.org", language="en")
    manager = make_user(db, email="manager@example.org", language="fr")
    viewer = make_user(db, email="viewer@example.org")
    association = make_association(db, owner, name="Bike <Help>", join_policy="moderated")
    make_membership(db, association, manager, role="manager", perm_manage_members=True)
    make_membership(db, association, viewer, role="manager", perm_view_actions=True)
    person = make_user(db, email="person@example.org", display_name="Camille", language="en")
    await log_in(client, person)
    asked = await post(client, f"/associations/{association.slug}/join", message="I can help")
    assert asked.status_code == 303
    row = membership(db, association, person)
    assert row.status == "pending" and row.message == "I can help"
    to_owner = mail.last_to("owner@example.org")
    assert "Camille" in mail.body(to_owner) and "I can help" in mail.body(to_owner)
    assert to_owner["Subject"] == "New request to join Bike <Help>"
    mail.last_to("manager@example.org")
    assert mail.to("viewer@example.org") == []
    assert mail.link_in(to_owner) == f"/associations/{association.slug}/members?status=pending"

    managing = make_client()
    await log_in(managing, manager)
    listing = await managing.get(mail.link_in(to_owner))
    assert "Camille" in listing.text and f"/members/{row.id}/accept" in listing.text
    accepted = await post(managing, f"/associations/{association.slug}/members/{row.id}/accept")
    assert accepted.status_code == 303
    assert membership(db, association, person).status == "active"
    welcome = mail.last_to("person@example.org")
    assert welcome["Subject"] == "Welcome to Bike <Help>"
    again = await post(managing, f"/associations/{association.slug}/members/{row.id}/accept")
    assert again.status_code == 409


async def test_refuse_mails_the_person_and_they_may_ask_again(
    client: httpx.AsyncClient,
    db: Database,
    mail: SentMail,
    make_client: Callable[[], httpx.AsyncClient],
) -> None:
    owner = make_user(db)
    association = make_association(db, owner, join_policy="moderated")
    person = make_user(db, email="refused@example.org", language="en")
    await log_in(client, person)
    await post(client, f"/associations/{association.slug}/join")
    first = membership(db, association, person)
    managing = make_client()
    await log_in(managing, owner)
    refused = await post(managing, f"/associations/{association.slug}/members/{first.id}/refuse")
    assert refused.status_code == 303
    assert membership(db, association, person).status == "refused"
    assert "was not accepted" in mail.body(mail.last_to("refused@example.org"))
    await post(client, f"/associations/{association.slug}/join")
    again = membership(db, association, person)
    assert again.id == first.id and again.status == "pending"


async def test_leave_with_confirmation_and_rejoin_keeps_the_id(
    client: httpx.AsyncClient, db: Database
) -> None:
    association = make_association(db, make_user(db))
    person = make_user(db)
    first = make_membership(db, association, person)
    await log_in(client, person)
    page = await client.get(f"/associations/{association.slug}/leave")
    assert page.status_code == 200 and "<form" in page.text
    left = await client.post(
        f"/associations/{association.slug}/leave", data={"csrf_token": csrf_from(page.text)}
    )
    assert left.status_code == 303
    assert membership(db, association, person).status == "left"
    await post(client, f"/associations/{association.slug}/join")
    again = membership(db, association, person)
    assert again.id == first.id and again.status == "active"


async def test_last_owner_cannot_leave(client: httpx.AsyncClient, db: Database) -> None:
    owner = make_user(db)
    association = make_association(db, owner)
    await log_in(client, owner)
    page = await client.get(f"/associations/{association.slug}/leave")
    refused = await client.post(
        f"/associations/{association.slug}/leave", data={"csrf_token": csrf_from(page.text)}
    )
    assert refused.status_code == 409
    assert membership(db, association, owner).status == "active"


async def test_member_list_rights(
    client: httpx.AsyncClient, db: Database, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    owner = make_user(db)
    association = make_association(db, owner)
    viewer, volunteer = make_user(db, display_name="Viewer"), make_user(db)
    make_membership(db, association, viewer, role="manager", perm_view_actions=True)
    make_membership(db, association, volunteer)
    make_membership(db, association, None, label="Tri sélectif")
    make_membership(db, association, None)
    path = f"/associations/{association.slug}/members"
    await log_in(client, volunteer)
    assert (await client.get(path)).status_code == 403
    assert path not in (await client.get(f"/associations/{association.slug}")).text
    seeing = make_client()
    await log_in(seeing, viewer)
    assert path in (await seeing.get(f"/associations/{association.slug}")).text
    page = await seeing.get(path, headers=EN)
    assert page.status_code == 200
    assert "Tri sélectif" in page.text and "Deleted account" in page.text
    assert "/accept" not in page.text and "/invitations" not in page.text
    filtered = await seeing.get(path, params={"role": "manager"})
    assert "Viewer" in filtered.text and "Tri sélectif" not in filtered.text


async def test_manager_without_manage_members_gets_403(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner = make_user(db)
    association = make_association(db, owner, join_policy="moderated")
    viewer = make_user(db)
    make_membership(db, association, viewer, role="manager", perm_view_actions=True)
    pending = make_membership(db, association, make_user(db), status="pending")
    active = make_membership(db, association, make_user(db))
    await log_in(client, viewer)
    base = f"/associations/{association.slug}/members"
    for path in (f"{base}/{pending.id}/accept", f"{base}/{pending.id}/refuse"):
        assert (await post(client, path)).status_code == 403
    assert (await post(client, f"{base}/{active.id}/remove")).status_code == 403
    assert (await client.get(f"{base}/{active.id}")).status_code == 403
    assert (await post(client, f"{base}/{active.id}", role="manager")).status_code == 403


async def test_change_role_and_permissions(client: httpx.AsyncClient, db: Database) -> None:
    owner = make_user(db)
    association = make_association(db, owner)
    manager = make_user(db)
    make_membership(db, association, manager, role="manager", perm_manage_members=True)
    target = make_membership(db, association, make_user(db))
    await log_in(client, manager)
    path = f"/associations/{association.slug}/members/{target.id}"
    page = await client.get(path)
    assert 'value="owner"' not in page.text
    assert 'name="manage_members"' in page.text and 'name="manage_settings"' not in page.text
    changed = await client.post(
        path,
        data={"csrf_token": csrf_from(page.text), "role": "manager", "manage_members": "on"},
    )
    assert changed.status_code == 303
    with db.read() as session:
        row = session.get(Membership, target.id)
    assert row is not None and row.role == "manager" and row.perm_manage_members
    greedy = await client.post(
        path,
        data={"csrf_token": csrf_from(page.text), "role": "manager", "manage_settings": "on"},
    )
    assert greedy.status_code == 422
    with db.read() as session:
        row = session.get(Membership, target.id)
    assert row is not None and not row.perm_manage_settings
    other = make_association(db, owner)
    elsewhere = make_membership(db, other, make_user(db))
    response = await client.get(f"/associations/{association.slug}/members/{elsewhere.id}")
    assert response.status_code == 404


async def test_owner_cannot_demote_themselves_when_last(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner = make_user(db)
    association = make_association(db, owner)
    mine = membership(db, association, owner)
    await log_in(client, owner)
    path = f"/associations/{association.slug}/members/{mine.id}"
    page = await client.get(path)
    response = await client.post(
        path, data={"csrf_token": csrf_from(page.text), "role": "volunteer"}
    )
    assert response.status_code == 422
    assert membership(db, association, owner).role == "owner"


async def test_remove_a_member(client: httpx.AsyncClient, db: Database) -> None:
    owner = make_user(db)
    association = make_association(db, owner)
    person = make_user(db)
    target = make_membership(db, association, person)
    await log_in(client, owner)
    response = await post(client, f"/associations/{association.slug}/members/{target.id}/remove")
    assert response.status_code == 303
    assert membership(db, association, person).status == "left"


async def test_invitation_by_email_end_to_end(
    client: httpx.AsyncClient,
    db: Database,
    mail: SentMail,
    make_client: Callable[[], httpx.AsyncClient],
) -> None:
    owner = make_user(db)
    association = make_association(db, owner, name="Secret garden", join_policy="invitation")
    invitee = make_user(db, email="friend@example.org", language="en")
    await log_in(client, owner)
    sent = await post(
        client, f"/associations/{association.slug}/invitations", email="Friend@example.org"
    )
    assert sent.status_code == 303
    listing = await client.get(f"/associations/{association.slug}/members")
    assert "friend@example.org" in listing.text and "/cancel" in listing.text
    message = mail.last_to("friend@example.org")
    assert message["Subject"] == "Invitation to join Secret garden"
    link = mail.link_in(message)
    assert link.startswith("/invitations/")

    visitor = make_client()
    landing = await visitor.get(link)
    assert landing.status_code == 200
    assert f"/login?next=%2Finvitations%2F{link.rsplit('/', 1)[1]}" in landing.text
    await log_in(visitor, invitee)
    page = await visitor.get(link)
    accepted = await visitor.post(link, data={"csrf_token": csrf_from(page.text)})
    assert accepted.status_code == 303
    row = membership(db, association, invitee)
    assert (row.status, row.role) == ("active", "volunteer")
    assert (await visitor.get(link)).status_code == 404
    listing = await client.get(f"/associations/{association.slug}/members")
    assert "/cancel" not in listing.text


async def test_invitation_cancel_and_bad_addresses(
    client: httpx.AsyncClient, db: Database, mail: SentMail
) -> None:
    owner = make_user(db)
    association = make_association(db, owner)
    await log_in(client, owner)
    base = f"/associations/{association.slug}"
    bad = await post(client, f"{base}/invitations", email="<b>nope</b>")
    assert bad.status_code == 303
    assert "flash-error" in (await client.get(f"{base}/members")).text
    assert mail.messages == []
    await post(client, f"{base}/invitations", email="x@example.org")
    link = mail.link_in(mail.last_to("x@example.org"))
    with db.read() as session:
        from_db = associations.get_by_slug(session, association.slug)
        invitation_id = invitations.list_pending(session, association=from_db)[0].id
    cancelled = await post(client, f"{base}/invitations/{invitation_id}/cancel")
    assert cancelled.status_code == 303
    assert (await client.get(link)).status_code == 404


@pytest.mark.parametrize("role", ["volunteer", "manager"])
async def test_invitation_refused_to_people_without_manage_members(
    client: httpx.AsyncClient, db: Database, role: str
) -> None:
    association = make_association(db, make_user(db))
    person = make_user(db)
    make_membership(db, association, person, role=role, perm_view_actions=True)
    await log_in(client, person)
    response = await post(
        client, f"/associations/{association.slug}/invitations", email="a@example.org"
    )
    assert response.status_code == 403
