"""Recording, correcting, deleting and repeating actions through the pages."""

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import select

from schema.db import Database
from schema.tables import Action, ActionEvent, Project
from tests.factories import csrf_from, log_in, make_membership
from tests.test_actions_support import World, days_ago, make_world, record, set_rules, today
from web.templating import templates


@pytest.fixture
def world(db: Database) -> World:
    return make_world(db)


async def sign_in(client: httpx.AsyncClient, user: Any) -> None:
    """Log in and read the pages in English."""
    await log_in(client, user)
    await client.get("/language?lang=en")


async def submit(
    client: httpx.AsyncClient, path: str, data: dict[str, Any], page: str | None = None
) -> httpx.Response:
    loaded = await client.get(page or path)
    assert loaded.status_code == 200, loaded.text
    return await client.post(path, data={**data, "csrf_token": csrf_from(loaded.text)})


def actions_of(db: Database, world: World) -> list[Action]:
    with db.read() as session:
        query = select(Action).where(Action.association_id == world.association.id)
        return list(session.exec(query.order_by(Action.id)).all())  # type: ignore[arg-type]


def error_of(html: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="e-{field}">([^<]*)</p>', html)
    assert match, f"no error for {field}"
    return match.group(1)


def new_url(world: World) -> str:
    return f"/associations/{world.association.slug}/actions/new"


async def test_the_form_offers_quick_durations_and_categories(
    client: httpx.AsyncClient, world: World
) -> None:
    await sign_in(client, world.volunteer)
    page = await client.get(new_url(world))
    assert page.status_code == 200
    html = page.text
    for value in ("30", "60", "120", "half", "other"):
        assert f'name="duration" value="{value}"' in html
    assert "Half day (4 h)" in html
    assert html.count('name="category_id"') == len(world.categories)
    assert f'value="{today().isoformat()}"' in html
    assert "<details" in html and "More details" in html
    assert 'name="distance_km"' in html  # uses_distance is on by default
    assert 'name="travel_minutes"' not in html  # travel time policy "none"
    assert 'name="project_id"' not in html  # no project yet
    assert 'name="volunteer_id"' not in html  # volunteers record for themselves


async def test_three_taps_record_an_action(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await sign_in(client, world.volunteer)
    response = await submit(
        client,
        new_url(world),
        {"date": today().isoformat(), "duration": "120", "category_id": str(world.category.id)},
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/associations/{world.association.slug}/actions"
    [action] = actions_of(db, world)
    assert (action.minutes, action.category_id, action.date) == (120, world.category.id, today())
    assert action.membership_id == world.member.id and action.source == "web"
    listing = await client.get(response.headers["location"])
    assert "Saved: 2 h" in listing.text
    assert world.category.name in listing.text


async def test_the_last_category_is_preselected(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    chosen = world.categories[3]
    record(db, world, category_id=chosen.id)
    await sign_in(client, world.volunteer)
    html = (await client.get(new_url(world))).text
    assert re.search(rf'value="{chosen.id}"\s+checked', html)


async def test_free_hours_and_minutes_and_more_details(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await sign_in(client, world.volunteer)
    data = {
        "date": days_ago(3).isoformat(),
        "end_date": days_ago(1).isoformat(),
        "duration": "other",
        "hours": "3",
        "mins": "45",
        "category_id": str(world.category.id),
        "title": "Tri des dons",
        "description": "<script>alert(1)</script>",
        "distance_km": "12,5",
    }
    response = await submit(client, new_url(world), data)
    assert response.status_code == 303, response.text
    [action] = actions_of(db, world)
    assert action.minutes == 225 and action.distance_hundredths == 1250
    assert action.end_date == days_ago(1) and action.title == "Tri des dons"
    page = await client.get(f"/actions/{action.id}")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_half_day_uses_the_association_length(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db, half_day_minutes=210)
    await sign_in(client, world.volunteer)
    page = await client.get(new_url(world))
    assert "Half day (3 h 30)" in page.text
    data = {"date": today().isoformat(), "duration": "half", "category_id": world.category.id}
    assert (await submit(client, new_url(world), data)).status_code == 303
    assert actions_of(db, world)[0].minutes == 210


BAD_INPUTS: list[tuple[dict[str, str], str, str]] = [
    ({"duration": ""}, "minutes", "Enter a duration."),
    (
        {"duration": "other", "hours": "0", "mins": "0"},
        "minutes",
        "Enter a duration, or a distance travelled.",
    ),
    ({"duration": "other", "hours": "-2"}, "minutes", "The duration must not be negative."),
    (
        {"duration": "other", "hours": "abc"},
        "minutes",
        "Enter whole numbers of hours and minutes, like 1 and 30.",
    ),
    (
        {"duration": "other", "hours": "1", "mins": "75"},
        "minutes",
        "Enter at most 59 minutes; add the rest to the hours.",
    ),
    ({"duration": "other", "hours": "25"}, "minutes", "Enter at most 1440 minutes."),
    (
        {"date": (today() + timedelta(days=1)).isoformat()},
        "date",
        "The date must not be in the future.",
    ),
    ({"date": "1999-12-31"}, "date", "The date must not be before 2000-01-01."),
    ({"date": "31/12/2024"}, "date", "Enter a date like 2024-03-31."),
    ({"date": ""}, "date", "Enter a date like 2024-03-31."),
    ({"category_id": ""}, "category_id", "Choose a category."),
    ({"category_id": "999999"}, "category_id", "Choose an entry of this association."),
    ({"category_id": "abc"}, "category_id", "Enter a whole number."),
    ({"distance_km": "-3"}, "distance_km", "The distance must not be negative."),
    ({"distance_km": "douze"}, "distance_km", "Enter a distance in kilometres, like 12.5."),
    ({"end_date": "2001-01-01"}, "end_date", "The end date must not be before the date."),
    ({"title": "x" * 200}, "title", "This text is too long."),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD_INPUTS)
async def test_bad_inputs_come_back_with_a_message_next_to_the_field(
    client: httpx.AsyncClient,
    db: Database,
    world: World,
    change: dict[str, str],
    field: str,
    message: str,
) -> None:
    await sign_in(client, world.volunteer)
    data = {
        "date": today().isoformat(),
        "duration": "60",
        "category_id": str(world.category.id),
        "title": "Mon <b>titre</b>",
        **change,
    }
    response = await submit(client, new_url(world), data)
    assert response.status_code == 422
    assert error_of(response.text, field) == message
    assert 'aria-describedby="e-' + field in response.text
    # The typed values are kept (and escaped).
    if "title" not in change:
        assert 'value="Mon &lt;b&gt;titre&lt;/b&gt;"' in response.text
    assert actions_of(db, world) == []


async def test_a_category_of_another_association_is_refused(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    other = make_world(db)
    await sign_in(client, world.volunteer)
    data = {"date": today().isoformat(), "duration": "60", "category_id": other.category.id}
    response = await submit(client, new_url(world), data)
    assert response.status_code == 422
    assert error_of(response.text, "category_id") == "Choose an entry of this association."


async def test_archived_project_and_rules(client: httpx.AsyncClient, db: Database) -> None:
    world = make_world(db, earliest_date=days_ago(10), travel_time_policy="separate")
    with db.write() as session:
        live = Project(association_id=world.association.id, name="Fête")
        gone = Project(association_id=world.association.id, name="Ancien", archived=True)
        session.add(live)
        session.add(gone)
    await sign_in(client, world.volunteer)
    page = await client.get(new_url(world))
    assert 'name="project_id"' in page.text and "Fête" in page.text and "Ancien" not in page.text
    assert 'name="travel_minutes"' in page.text
    base = {"date": today().isoformat(), "duration": "60", "category_id": world.category.id}
    response = await submit(client, new_url(world), {**base, "project_id": gone.id})
    assert response.status_code == 422
    assert error_of(response.text, "project_id") == "This entry is archived; choose another one."
    assert '<details class="more" open>' in response.text
    response = await submit(client, new_url(world), {**base, "date": days_ago(11).isoformat()})
    assert error_of(response.text, "date") == f"The date must not be before {days_ago(10)}."
    response = await submit(
        client, new_url(world), {**base, "project_id": live.id, "travel_minutes": "25"}
    )
    assert response.status_code == 303
    [action] = actions_of(db, world)
    assert action.project_id == live.id and action.travel_minutes == 25


async def test_hidden_fields_follow_the_association(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db, uses_distance=False)
    await sign_in(client, world.volunteer)
    page = await client.get(new_url(world))
    assert 'name="distance_km"' not in page.text
    # A distance sent anyway is ignored rather than stored.
    data = {"date": today().isoformat(), "duration": "30", "category_id": world.category.id}
    response = await submit(client, new_url(world), {**data, "distance_km": "5"})
    assert response.status_code == 303
    assert actions_of(db, world)[0].distance_hundredths is None


async def test_edit_keeps_values_and_records_the_change(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    action = record(db, world, minutes=95, title="Avant")
    await sign_in(client, world.volunteer)
    page = await client.get(f"/actions/{action.id}/edit")
    assert page.status_code == 200
    assert re.search(r'value="other" id="f-duration-other"\s+checked', page.text)
    assert 'value="1"' in page.text and 'value="35"' in page.text
    data = {
        "date": action.date.isoformat(),
        "duration": "60",
        "category_id": world.categories[1].id,
        "title": "Après",
    }
    response = await submit(client, f"/actions/{action.id}/edit", data)
    assert response.status_code == 303
    [changed] = actions_of(db, world)
    assert (changed.minutes, changed.category_id, changed.title) == (
        60,
        world.categories[1].id,
        "Après",
    )
    with db.read() as session:
        kinds = [
            e.kind
            for e in session.exec(select(ActionEvent).where(ActionEvent.action_id == action.id))
        ]
    assert kinds == ["create", "edit"]


async def test_edit_with_errors_is_422(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    action = record(db, world)
    await sign_in(client, world.volunteer)
    data = {"date": "2024-02-30", "duration": "60", "category_id": world.category.id}
    response = await submit(client, f"/actions/{action.id}/edit", data)
    assert response.status_code == 422
    assert error_of(response.text, "date") == "Enter a date like 2024-03-31."
    assert 'value="2024-02-30"' in response.text


async def test_someone_else_cannot_see_edit_or_delete(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    action = record(db, world)
    await sign_in(client, world.other)
    for path in (
        f"/actions/{action.id}",
        f"/actions/{action.id}/edit",
        f"/actions/{action.id}/delete",
    ):
        assert (await client.get(path)).status_code == 404
    # A manager who may only look sees it, but may not change it.
    viewer = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with viewer:
        await sign_in(viewer, world.viewer)
        assert (await viewer.get(f"/actions/{action.id}")).status_code == 200
        refused = await viewer.get(f"/actions/{action.id}/edit")
        assert refused.status_code == 403
        assert "You may not change this action." in refused.text
    assert (await client.get("/actions/999999/edit")).status_code == 404


async def test_delete_asks_for_confirmation(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    action = record(db, world)
    await sign_in(client, world.volunteer)
    page = await client.get(f"/actions/{action.id}/delete")
    assert "Do you really want to delete this action?" in page.text
    assert actions_of(db, world)
    response = await submit(client, f"/actions/{action.id}/delete", {})
    assert response.status_code == 303
    assert actions_of(db, world) == []


async def test_forms_need_the_csrf_token(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await sign_in(client, world.volunteer)
    data = {"date": today().isoformat(), "duration": "60", "category_id": world.category.id}
    response = await client.post(new_url(world), data=data)
    assert response.status_code == 403
    response = await client.post(new_url(world), data={**data, "csrf_token": "forged"})
    assert response.status_code == 403
    assert actions_of(db, world) == []


async def test_validated_actions_are_locked_in_a_moderated_association(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db, requires_validation=True)
    action = record(db, world)
    assert action.status == "pending"
    with db.write() as session:
        row = session.get(Action, action.id)
        assert row is not None
        row.status = "validated"
        session.add(row)
    await sign_in(client, world.volunteer)
    listing = await client.get(f"/associations/{world.association.slug}/actions")
    assert "Locked" in listing.text
    assert f"/actions/{action.id}/edit" not in listing.text
    refused = await client.get(f"/actions/{action.id}/edit")
    assert refused.status_code == 403
    assert "This action is validated; ask a manager to correct it." in refused.text


async def test_repeat_my_last_action(client: httpx.AsyncClient, db: Database, world: World) -> None:
    record(db, world, date=days_ago(7), minutes=90, title="Permanence", distance_km="3")
    await sign_in(client, world.volunteer)
    listing = await client.get(f"/associations/{world.association.slug}/actions")
    assert "Repeat my last action" in listing.text
    response = await client.post(
        f"/associations/{world.association.slug}/actions/repeat",
        data={"csrf_token": csrf_from(listing.text)},
    )
    assert response.status_code == 303
    first, again = actions_of(db, world)
    assert again.date == today() and again.minutes == 90 and again.title == "Permanence"
    assert again.distance_hundredths == 300 and again.category_id == first.category_id


async def test_repeat_without_any_action(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.volunteer)
    page = await client.get(new_url(world))
    response = await client.post(
        f"/associations/{world.association.slug}/actions/repeat",
        data={"csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 303
    follow = await client.get(response.headers["location"])
    assert "You have no action to repeat yet." in follow.text


async def test_repeat_refused_when_the_category_is_archived(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    record(db, world)
    with db.write() as session:
        row = session.get(type(world.category), world.category.id)
        assert row is not None
        row.archived = True
        session.add(row)
    await sign_in(client, world.volunteer)
    page = await client.get(new_url(world))
    response = await client.post(
        f"/associations/{world.association.slug}/actions/repeat",
        data={"csrf_token": csrf_from(page.text)},
    )
    follow = await client.get(response.headers["location"])
    assert "could not be repeated" in follow.text
    assert len(actions_of(db, world)) == 1


async def test_choose_the_association_first_when_several(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await sign_in(client, world.volunteer)
    response = await client.get("/actions/new")
    assert response.status_code == 303
    assert response.headers["location"] == new_url(world)
    second = make_world(db)
    make_membership(db, second.association, world.volunteer)
    page = await client.get("/actions/new")
    assert page.status_code == 200
    assert world.association.name in page.text and second.association.name in page.text


async def test_strangers_and_anonymous_visitors(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    response = await client.get(new_url(world))
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    stranger = make_world(db).volunteer
    await sign_in(client, stranger)
    refused = await client.get(new_url(world))
    assert refused.status_code == 403
    assert "Only active members may record actions." in refused.text
    hidden = make_world(db)
    set_rules(db, hidden.association, is_hidden=True)
    assert (await client.get(new_url(hidden))).status_code == 404
    assert (await client.get("/associations/nope/actions/new")).status_code == 404


async def test_a_pending_action_tells_the_managers(
    client: httpx.AsyncClient, db: Database, mail: Any
) -> None:
    world = make_world(db, requires_validation=True)
    with db.write() as session:
        for user in (world.owner, world.manager):
            row = session.get(type(user), user.id)
            assert row is not None
    await sign_in(client, world.volunteer)
    data = {"date": today().isoformat(), "duration": "60", "category_id": world.category.id}
    assert (await submit(client, new_url(world), data)).status_code == 303
    assert actions_of(db, world)[0].status == "pending"
    assert mail.to(world.manager.email)


def test_the_dashboard_partial_links_and_repeats(db: Database, world: World) -> None:
    template = templates.env.get_template("actions/_quick.html")
    html = template.render(association=world.association, membership=world.member, csrf_token="tok")
    slug = world.association.slug
    assert f'href="/associations/{slug}/actions/new"' in html
    assert f'action="/associations/{slug}/actions/repeat"' in html
    assert 'name="csrf_token" value="tok"' in html
    world.member.status = "pending"
    quiet = template.render(association=world.association, membership=world.member, csrf_token="t")
    assert "actions/new" not in quiet
