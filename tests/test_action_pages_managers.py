"""Managers' pages on actions: entry for others and for groups, the list, the queue, history."""

import re
from typing import Any

import httpx
from sqlmodel import select

from schema.db import Database
from schema.tables import Action, Project
from tests.factories import csrf_from, make_membership
from tests.test_action_pages import actions_of, error_of, new_url, sign_in, submit
from tests.test_actions_support import days_ago, make_world, record, today


def list_url(world: Any) -> str:
    return f"/associations/{world.association.slug}/actions"


async def test_a_manager_records_for_another_volunteer(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db)
    await sign_in(client, world.manager)
    page = await client.get(new_url(world))
    assert 'name="volunteer_id"' in page.text and "Who did it?" in page.text
    data = {
        "date": today().isoformat(),
        "duration": "60",
        "category_id": world.category.id,
        "volunteer_id": world.member.id,
    }
    assert (await submit(client, new_url(world), data)).status_code == 303
    [action] = actions_of(db, world)
    assert action.membership_id == world.member.id and action.created_by_id == world.manager.id
    # A member of another association cannot be chosen.
    other = make_world(db)
    response = await submit(client, new_url(world), {**data, "volunteer_id": other.member.id})
    assert response.status_code == 422
    assert error_of(response.text, "volunteer_id") == "Choose an active member of this association."


async def test_a_volunteer_cannot_record_for_someone_else(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db)
    await sign_in(client, world.volunteer)
    data = {
        "date": today().isoformat(),
        "duration": "60",
        "category_id": world.category.id,
        "volunteer_id": world.other_member.id,
    }
    response = await submit(client, new_url(world), data)
    assert response.status_code == 303
    [action] = actions_of(db, world)
    assert action.membership_id == world.member.id  # the field is not theirs: ignored


async def test_a_manager_edits_and_deletes_someone_elses_action(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db, requires_validation=True)
    action = record(db, world)
    await sign_in(client, world.manager)
    data = {
        "date": action.date.isoformat(),
        "duration": "30",
        "category_id": world.category.id,
        "volunteer_id": world.member.id,
    }
    assert (await submit(client, f"/actions/{action.id}/edit", data)).status_code == 303
    assert actions_of(db, world)[0].minutes == 30
    assert (await submit(client, f"/actions/{action.id}/delete", {})).status_code == 303
    assert actions_of(db, world) == []


async def test_group_entry_records_one_action_each(client: httpx.AsyncClient, db: Database) -> None:
    world = make_world(db)
    url = f"/associations/{world.association.slug}/actions/group"
    await sign_in(client, world.manager)
    page = await client.get(url)
    assert page.status_code == 200
    assert page.text.count('name="volunteer_ids"') >= 4
    data: dict[str, Any] = {
        "date": today().isoformat(),
        "duration": "120",
        "category_id": world.category.id,
        "title": "Fête du quartier",
        "volunteer_ids": [str(world.member.id), str(world.other_member.id)],
    }
    response = await submit(client, url, data)
    assert response.status_code == 303
    created = actions_of(db, world)
    assert sorted(a.membership_id for a in created) == sorted(
        [world.member.id, world.other_member.id]
    )
    assert {a.source for a in created} == {"group"}
    # Nobody ticked, and a bad duration: both messages, values kept.
    response = await submit(
        client, url, {**data, "volunteer_ids": [], "duration": "other", "hours": "x"}
    )
    assert response.status_code == 422
    assert error_of(response.text, "volunteer_ids") == "Choose at least one volunteer."
    assert "Enter whole numbers" in error_of(response.text, "minutes")
    assert 'value="Fête du quartier"' in response.text
    # A stranger's membership id is refused.
    other = make_world(db)
    response = await submit(client, url, {**data, "volunteer_ids": [str(other.member.id)]})
    assert response.status_code == 422
    assert "Not an active member of this association" in error_of(response.text, "volunteer_ids")
    response = await submit(client, url, {**data, "volunteer_ids": ["abc"]})
    assert error_of(response.text, "volunteer_ids") == "Choose from the list."


async def test_group_entry_and_queue_are_for_managers_who_edit(
    make_client: Any, db: Database
) -> None:
    world = make_world(db)
    base = f"/associations/{world.association.slug}/actions"
    for person in (world.volunteer, world.viewer):
        client = make_client()
        await sign_in(client, person)
        assert (await client.get(f"{base}/group")).status_code == 403
        refused = await client.get(f"{base}/pending")
        assert refused.status_code == 403
        assert "Only managers who may edit actions can do this." in refused.text


async def test_the_managers_list_filters_totals_and_pending_first(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db)
    record(db, world, minutes=60, date=days_ago(40))
    record(db, world, user=world.other, minutes=30, date=days_ago(2))
    with db.write() as session:
        row = session.exec(select(Action).where(Action.minutes == 60)).one()
        row.status = "pending"
        session.add(row)
    await sign_in(client, world.viewer)
    page = await client.get(list_url(world))
    assert page.status_code == 200
    html = page.text
    # The pending action comes first though it is older.
    assert html.index("Waiting for validation</span>") < html.index("Validated</span>")
    assert re.search(r"Validated hours</dt><dd>30 min", html)
    assert "1 · 1 h 00" in html
    filtered = await client.get(list_url(world), params={"volunteer": world.other_member.id})
    assert filtered.text.count("<tr>") == 2  # the header and one action
    by_date = await client.get(list_url(world), params={"from": days_ago(5).isoformat()})
    assert "Waiting for validation</span>" not in by_date.text
    bad = await client.get(list_url(world), params={"from": "yesterday", "status": "lost"})
    assert bad.status_code == 200
    assert "Enter a date like 2024-03-31." in bad.text
    # Twenty per page.
    for _ in range(21):
        record(db, world, minutes=10)
    first = await client.get(list_url(world))
    assert "Next page" in first.text
    second = await client.get(list_url(world), params={"page": 2})
    assert second.text.count("<tr>") == 1 + 3


async def test_a_volunteer_lists_only_their_own(client: httpx.AsyncClient, db: Database) -> None:
    world = make_world(db)
    record(db, world, title="Mine")
    record(db, world, user=world.other, title="Theirs")
    await sign_in(client, world.volunteer)
    page = await client.get(list_url(world))
    assert "Mine" in page.text and "Theirs" not in page.text
    assert 'name="volunteer"' not in page.text
    mine = await client.get("/me/actions")
    assert "Mine" in mine.text and "Theirs" not in mine.text


async def test_my_actions_across_associations(client: httpx.AsyncClient, db: Database) -> None:
    world = make_world(db)
    second = make_world(db)
    membership = make_membership(db, second.association, world.volunteer)
    record(db, world, title="Here")
    second.member = membership
    second.volunteer = world.volunteer
    record(db, second, title="There")
    await sign_in(client, world.volunteer)
    page = await client.get("/me/actions")
    assert "Here" in page.text and "There" in page.text
    assert second.association.name in page.text
    only = await client.get("/me/actions", params={"association": second.association.slug})
    assert "Here" not in only.text and "There" in only.text


async def test_validation_queue_validates_and_refuses_in_bulk(
    client: httpx.AsyncClient, db: Database, mail: Any
) -> None:
    world = make_world(db, requires_validation=True)
    first = record(db, world, title="Un")
    second = record(db, world, user=world.other, title="Deux")
    third = record(db, world, title="Trois")
    url = f"/associations/{world.association.slug}/actions/pending"
    await sign_in(client, world.manager)
    page = await client.get(url)
    assert page.status_code == 200
    assert all(f'value="{a.id}"' in page.text for a in (first, second, third))
    response = await submit(client, url, {"decision": "validate", "ids": [first.id, second.id]})
    assert response.status_code == 303
    statuses = {a.id: a.status for a in actions_of(db, world)}
    assert statuses == {first.id: "validated", second.id: "validated", third.id: "pending"}
    assert mail.to(world.volunteer.email)
    # Refusing needs a reason: the ticks are kept.
    response = await submit(client, url, {"decision": "refuse", "ids": [third.id], "reason": " "})
    assert response.status_code == 422
    assert error_of(response.text, "reason") == "Say why the action is refused."
    assert re.search(rf'value="{third.id}" id="pick-{third.id}" checked', response.text)
    response = await submit(client, url, {"decision": "validate"})
    assert error_of(response.text, "ids") == "Choose at least one action."
    response = await submit(
        client, url, {"decision": "refuse", "ids": [third.id], "reason": "Pas <b>ici</b>"}
    )
    assert response.status_code == 303
    refused = [a for a in actions_of(db, world) if a.id == third.id][0]
    assert refused.status == "refused" and refused.refusal_reason == "Pas <b>ici</b>"
    listing = await client.get(list_url(world))
    assert "Pas &lt;b&gt;ici&lt;/b&gt;" in listing.text
    # Another association's action id is refused.
    other = make_world(db, requires_validation=True)
    stranger = record(db, other)
    response = await submit(client, url, {"decision": "validate", "ids": [stranger.id]})
    assert response.status_code == 422
    assert "No such action in this association" in error_of(response.text, "ids")


async def test_the_audit_trail_is_for_managers(client: httpx.AsyncClient, db: Database) -> None:
    world = make_world(db)
    with db.write() as session:
        project = Project(association_id=world.association.id, name="Jardin")
        session.add(project)
    action = record(db, world, minutes=60)
    await sign_in(client, world.manager)
    data = {
        "date": action.date.isoformat(),
        "duration": "120",
        "category_id": world.category.id,
        "project_id": project.id,
        "volunteer_id": world.member.id,
    }
    assert (await submit(client, f"/actions/{action.id}/edit", data)).status_code == 303
    page = await client.get(f"/actions/{action.id}")
    assert page.status_code == 200
    html = page.text
    assert "History" in html and "Recorded" in html and "Changed" in html
    assert world.volunteer.username in html and world.manager.username in html
    assert "Duration: 1 h 00 → 2 h 00" in html
    assert "Project: — → Jardin" in html
    volunteer = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with volunteer:
        await sign_in(volunteer, world.volunteer)
        own = await volunteer.get(f"/actions/{action.id}")
        assert own.status_code == 200 and "History" not in own.text


async def test_csrf_is_needed_to_decide(client: httpx.AsyncClient, db: Database) -> None:
    world = make_world(db, requires_validation=True)
    action = record(db, world)
    await sign_in(client, world.manager)
    url = f"/associations/{world.association.slug}/actions/pending"
    page = await client.get(url)
    assert csrf_from(page.text)
    response = await client.post(url, data={"decision": "validate", "ids": [action.id]})
    assert response.status_code == 403
    assert actions_of(db, world)[0].status == "pending"
