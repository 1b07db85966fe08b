"""Taxonomy and rules pages: categories, projects, levels with dated rates, instance defaults."""

import re
from datetime import date
from typing import Any

import httpx
from sqlmodel import col, select

from schema.db import Database
from schema.tables import Association, Category, Level, LevelRate, Project
from tests.test_action_pages import error_of, sign_in, submit
from tests.test_actions_support import make_world, quick_user, record


def url(world: Any, plural: str) -> str:
    return f"/associations/{world.association.slug}/{plural}"


def live_names(db: Database, model: Any, association_id: int | None) -> list[str]:
    with db.read() as session:
        owner = (
            col(model.association_id).is_(None)
            if association_id is None
            else model.association_id == association_id
        )
        rows = session.exec(select(model).where(owner, col(model.archived).is_(False)))
        return sorted(row.name for row in rows)


async def test_categories_add_rename_archive_and_bring_back(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db)
    await sign_in(client, world.owner)
    page = await client.get(url(world, "categories"))
    assert page.status_code == 200 and world.category.name in page.text
    response = await submit(
        client, url(world, "categories"), {"name": "Cuisine <b>", "description": "Repas"}
    )
    assert response.status_code == 303
    assert "Cuisine <b>" in live_names(db, Category, world.association.id)
    listing = await client.get(url(world, "categories"))
    assert "Cuisine &lt;b&gt;" in listing.text
    duplicate = await submit(client, url(world, "categories"), {"name": "cuisine <B>"})
    assert duplicate.status_code == 422
    assert error_of(duplicate.text, "name") == "This name is already used."
    assert 'value="cuisine &lt;B&gt;"' in duplicate.text
    empty = await submit(client, url(world, "categories"), {"name": "  "})
    assert error_of(empty.text, "name") == "Enter a name."
    long = await submit(client, url(world, "categories"), {"name": "x" * 101})
    assert error_of(long.text, "name") == "Use at most 100 characters."
    entry = world.category
    renamed = await submit(
        client, f"{url(world, 'categories')}/{entry.id}", {"name": "Gouvernance", "description": ""}
    )
    assert renamed.status_code == 303
    assert "Gouvernance" in live_names(db, Category, world.association.id)
    archived = await submit(
        client,
        f"{url(world, 'categories')}/{entry.id}/archive",
        {"archived": "1"},
        page=url(world, "categories"),
    )
    assert archived.status_code == 303
    assert "Gouvernance" not in live_names(db, Category, world.association.id)
    back = await submit(
        client,
        f"{url(world, 'categories')}/{entry.id}/archive",
        {"archived": "0"},
        page=url(world, "categories"),
    )
    assert back.status_code == 303
    assert "Gouvernance" in live_names(db, Category, world.association.id)


async def test_projects_have_dates(client: httpx.AsyncClient, db: Database) -> None:
    world = make_world(db)
    await sign_in(client, world.owner)
    bad = await submit(
        client,
        url(world, "projects"),
        {"name": "Fête", "starts_on": "2025-06-10", "ends_on": "2025-06-01"},
    )
    assert bad.status_code == 422
    assert error_of(bad.text, "ends_on") == "The end must not be before the start."
    wrong = await submit(
        client, url(world, "projects"), {"name": "Fête", "starts_on": "10/06/2025"}
    )
    assert error_of(wrong.text, "starts_on") == "Enter a date like 2024-03-31."
    good = await submit(
        client,
        url(world, "projects"),
        {"name": "Fête", "starts_on": "2025-06-01", "ends_on": "2025-06-30"},
    )
    assert good.status_code == 303
    with db.read() as session:
        project = session.exec(select(Project).where(Project.name == "Fête")).one()
    assert (project.starts_on, project.ends_on) == (date(2025, 6, 1), date(2025, 6, 30))


async def test_levels_with_dated_rates(client: httpx.AsyncClient, db: Database) -> None:
    world = make_world(db)
    await sign_in(client, world.owner)
    created = await submit(
        client,
        url(world, "levels"),
        {"name": "Expert", "hourly_rate": "25,50", "effective_from": ""},
    )
    assert created.status_code == 303
    with db.read() as session:
        level = session.exec(select(Level).where(Level.name == "Expert")).one()
    entry_url = f"{url(world, 'levels')}/{level.id}"
    page = await client.get(entry_url)
    assert "25.50" in page.text and "Add a rate" in page.text
    bad = await submit(
        client,
        f"{entry_url}/rates",
        {"effective_from": "2025-02-30", "hourly_rate": "-1"},
        page=entry_url,
    )
    assert bad.status_code == 422
    assert error_of(bad.text, "effective_from") == "Enter a date like 2024-03-31."
    assert error_of(bad.text, "hourly_rate") == "The amount must not be negative."
    assert 'value="-1"' in bad.text
    good = await submit(
        client,
        f"{entry_url}/rates",
        {"effective_from": "2025-01-01", "hourly_rate": "30"},
        page=entry_url,
    )
    assert good.status_code == 303
    with db.read() as session:
        rates = session.exec(select(LevelRate).where(LevelRate.level_id == level.id)).all()
    assert sorted(r.hourly_rate_cents for r in rates) == [2550, 3000]
    history = await client.get(entry_url)
    assert "25.50" in history.text and "30.00" in history.text
    listing = await client.get(url(world, "levels"))
    assert "30.00" in listing.text  # the rate in force today


async def test_taxonomy_pages_need_manage_settings(make_client: Any, db: Database) -> None:
    world = make_world(db)
    for person in (world.volunteer, world.manager):
        client = make_client()
        await sign_in(client, person)
        for plural in ("categories", "projects", "levels", "rules"):
            response = await client.get(url(world, plural))
            assert response.status_code == 403, plural
        assert (await client.get("/admin/categories")).status_code == 403
    other = make_world(db)
    client = make_client()
    await sign_in(client, world.owner)
    entry = other.category.id
    assert (await client.get(f"{url(world, 'categories')}/{entry}")).status_code == 404
    assert (await client.get(f"{url(world, 'categories')}/999999")).status_code == 404


async def test_instance_defaults_for_admins(client: httpx.AsyncClient, db: Database) -> None:
    make_world(db)  # seeds the defaults
    admin = quick_user(db, is_admin=True)
    await sign_in(client, admin)
    page = await client.get("/admin/categories")
    assert page.status_code == 200 and "Événements" in page.text
    response = await submit(client, "/admin/categories", {"name": "Sport"})
    assert response.status_code == 303
    assert "Sport" in live_names(db, Category, None)
    levels = await client.get("/admin/levels")
    assert "Tâches courantes" in levels.text and "11.88" in levels.text
    assert (await client.get("/admin/projects")).status_code == 404


async def test_the_rules_page(client: httpx.AsyncClient, db: Database) -> None:
    world = make_world(db)
    rules = url(world, "rules")
    await sign_in(client, world.owner)
    page = await client.get(rules)
    assert page.status_code == 200
    assert 'value="24:00"' in page.text and 'value="4:00"' in page.text
    data = {
        "requires_validation": "on",
        "travel_time_policy": "separate",
        "earliest_date": "2024-01-01",
        "max_minutes_per_action": "10:30",
        "half_day_minutes": "3h30",
        "default_hourly_rate_cents": "12,50",
    }
    assert (await submit(client, rules, data)).status_code == 303
    with db.read() as session:
        row = session.get(Association, world.association.id)
        assert row is not None
    assert row.requires_validation and not row.uses_distance
    assert row.travel_time_policy == "separate" and row.earliest_date == date(2024, 1, 1)
    assert (row.max_minutes_per_action, row.half_day_minutes) == (630, 210)
    assert row.default_hourly_rate_cents == 1250
    bad = {
        "travel_time_policy": "sometimes",
        "earliest_date": "2999-01-01",
        "max_minutes_per_action": "0",
        "half_day_minutes": "4:75",
        "default_hourly_rate_cents": "beaucoup",
    }
    response = await submit(client, rules, bad)
    assert response.status_code == 422
    assert error_of(response.text, "travel_time_policy") == "Choose one of the options."
    assert error_of(response.text, "earliest_date") == "Choose a date from 2000 until today."
    assert "from 1 minute" in error_of(response.text, "max_minutes_per_action")
    assert error_of(response.text, "half_day_minutes") == "Enter at most 59 minutes."
    assert "Enter an amount in euros" in error_of(response.text, "default_hourly_rate_cents")
    assert 'value="beaucoup"' in response.text
    # The form now shows the duration of the new rules.
    record(db, world)
    form = await client.get(f"/associations/{world.association.slug}/actions/new")
    assert "Half day (3 h 30)" in form.text
    assert not re.search(r'name="distance_km"', form.text)
