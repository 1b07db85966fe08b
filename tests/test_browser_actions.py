"""Recording an action on a phone in three taps, and the statistics page, in a real browser."""

import os
from typing import Any

import pytest
from sqlmodel import select

from instance import actions
from schema.db import Database, create_all, make_engine
from schema.tables import Action, User
from tests.browser import PHONE, screenshot, serious_violations
from tests.factories import PASSWORD
from tests.test_actions_support import World, make_world, today

pytestmark = pytest.mark.browser


def live_database(instance: Any) -> Database:
    """The database the live instance serves (as tests/live.py configures it)."""
    url = (
        os.environ.get("BENEFED_LIVE_DATABASE_URL")
        or f"sqlite:///{instance.directory / 'benefed.db'}"
    )
    engine = make_engine(url)
    # Tables the migrations may not create yet (the action tables are new); no-op otherwise.
    create_all(engine)
    return Database(engine)


def seed(db: Database) -> World:
    """An association with its defaults, members who read English, and a few actions."""
    world = make_world(db, default_hourly_rate_cents=1188)
    with db.write() as session:
        for person in (world.volunteer, world.owner, world.other):
            row = session.get(User, person.id)
            assert row is not None
            row.language = "en"
            session.add(row)
        for index, minutes in enumerate((90, 120, 45)):
            actions.create_action(
                session,
                association=world.association,
                user=world.other,
                data={
                    "minutes": minutes,
                    "category_id": world.categories[index].id,
                    "date": today().replace(day=1).isoformat(),
                },
                today=today(),
            )
    return world


def fits_the_screen(page: Any) -> bool:
    """True when nothing makes the page scroll sideways."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def log_in(page: Any, base: str, user: User, next_path: str) -> None:
    page.goto(f"{base}/login?next={next_path}")
    page.get_by_label("User name or email address").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_record_an_action_in_three_taps_on_a_phone(live, chromium) -> None:  # type: ignore[no-untyped-def]
    instance = live("actions")
    db = live_database(instance)
    try:
        world = seed(db)
        slug = world.association.slug
        context = chromium.new_context(**PHONE, locale="en-GB")
        page = context.new_page()
        log_in(page, instance.url, world.volunteer, "/actions/new")
        page.wait_for_url(f"**/associations/{slug}/actions/new")
        assert page.locator("h1").inner_text() == "Record an action"
        screenshot(page, "actions-form-phone")
        assert fits_the_screen(page)
        assert serious_violations(page) == []

        taps = 0
        page.get_by_text("1 h", exact=True).click()
        taps += 1
        page.get_by_text(world.categories[2].name, exact=True).click()
        taps += 1
        page.get_by_role("button", name="Save").click()
        taps += 1
        page.wait_for_url(f"**/associations/{slug}/actions")
        assert taps == 3
        assert page.get_by_text(f"Saved: 1 h, {world.categories[2].name}.").is_visible()
        with db.read() as session:
            found = session.exec(
                select(Action).where(Action.membership_id == world.member.id)
            ).all()
        assert [(a.minutes, a.category_id, a.date) for a in found] == [
            (60, world.categories[2].id, today())
        ]
        screenshot(page, "actions-list-phone")
        assert fits_the_screen(page)
        assert serious_violations(page) == []

        # One more tap repeats it.
        page.get_by_role("button", name="Repeat my last action").click()
        page.wait_for_url(f"**/associations/{slug}/actions")
        assert page.get_by_text("Saved again for today").is_visible()
        page.goto(instance.url + "/me/hours?preset=this_month")
        assert serious_violations(page) == []
        context.close()

        manager = chromium.new_context(**PHONE, locale="en-GB")
        page = manager.new_page()
        log_in(page, instance.url, world.owner, f"/associations/{slug}/stats?preset=this_month")
        page.wait_for_url(f"**/associations/{slug}/stats?preset=this_month")
        assert page.locator("svg.chart").count() == 2
        assert page.locator("#total-hours").inner_text() == "6 h 15"
        screenshot(page, "stats-phone")
        assert fits_the_screen(page)
        violations = serious_violations(page)
        assert violations == [], violations
        for path in (
            "/actions",
            "/actions/pending",
            "/categories",
            "/levels",
            "/rules",
            "/access-links",
        ):
            page.goto(f"{instance.url}/associations/{slug}{path}")
            assert page.locator("h1").count() == 1
            violations = serious_violations(page)
            assert violations == [], (path, violations)
        manager.close()
    finally:
        db.dispose()
