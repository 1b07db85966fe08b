"""Recording without a connection: the form opens, the action waits on the phone, then is sent.

A real instance is stopped under the browser (the connection is gone for good, not
emulated), then started again on the same port and database.
"""

import time
from typing import Any

import httpx
import pytest
from sqlmodel import select

from schema.db import Database
from schema.tables import Action
from tests.browser import PHONE
from tests.test_actions_support import set_rules, today
from tests.test_browser_actions import live_database, log_in, seed

pytestmark = pytest.mark.browser


def controlled(page: Any) -> bool:
    """Wait until the service worker controls the page; True when it does."""
    page.evaluate("navigator.serviceWorker.ready")
    for _ in range(50):
        if page.evaluate("!!navigator.serviceWorker.controller"):
            return True
        time.sleep(0.1)
    return False


def recorded(db: Database, membership_id: int) -> list[tuple[int, int]]:
    with db.read() as session:
        found = session.exec(select(Action).where(Action.membership_id == membership_id)).all()
    return [(action.minutes, action.category_id) for action in found]


async def test_the_service_worker_is_served_from_the_root(client: httpx.AsyncClient) -> None:
    response = await client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    assert "sendWaiting" in response.text
    page = await client.get("/", headers={"accept-language": "en"})
    assert '<script src="/static/offline.js" defer></script>' in page.text


def test_an_action_recorded_offline_is_sent_when_the_server_is_back(live, chromium) -> None:  # type: ignore[no-untyped-def]
    instance = live("offline")
    db = live_database(instance)
    world = seed(db)
    form = f"{instance.url}/associations/{world.association.slug}/actions/new"
    context = chromium.new_context(**PHONE, locale="en-GB")
    page = context.new_page()
    log_in(page, instance.url, world.volunteer, "/actions/new")
    page.wait_for_url(form)
    assert controlled(page)
    page.goto(form)  # this visit is kept for the way without a connection

    instance.stop()
    page.goto(form)  # no server: the kept form opens
    assert page.locator("h1").inner_text() == "Record an action"
    page.get_by_text("1 h", exact=True).click()
    page.get_by_text(world.categories[1].name, exact=True).click()
    page.get_by_role("button", name="Save").click()
    saved = page.locator("#saved-offline")
    saved.wait_for()
    assert saved.inner_text() == (
        "Saved on this device: it will be sent as soon as the connection is back."
    )
    assert recorded(db, world.member.id or 0) == []
    page.goto(form)  # still no server: the form tells what waits
    notice = page.locator("#offline-status")
    notice.wait_for()
    assert notice.inner_text() == (
        "1 action waits on this device: it will be sent as soon as the connection is back."
    )

    instance.start()
    page.goto(form)  # a page opens: what waited is sent
    deadline = time.monotonic() + 15
    while not recorded(db, world.member.id or 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert recorded(db, world.member.id or 0) == [(60, world.categories[1].id)]
    page.reload()  # and only once
    time.sleep(0.5)
    assert len(recorded(db, world.member.id or 0)) == 1
    with db.read() as session:
        [action] = session.exec(select(Action).where(Action.membership_id == world.member.id))
    assert action.date == today()
    assert action.client_ref and len(action.client_ref) >= 8  # the key offline.js gave it
    assert page.locator("#offline-status").is_hidden()  # nothing waits any more

    # Kept again, and refused once sent: the association lowered its maximum meanwhile.
    instance.stop()
    page.goto(form)
    page.get_by_text("2 h", exact=True).click()
    page.get_by_text(world.categories[1].name, exact=True).click()
    page.get_by_role("button", name="Save").click()
    page.locator("#saved-offline").wait_for()
    set_rules(db, world.association, max_minutes_per_action=60)
    instance.start()
    page.goto(form)
    notice = page.locator("#offline-status")
    notice.wait_for()
    assert notice.inner_text() == (
        "Actions kept on this device and refused when they were sent: 1. Record them again."
    )
    assert len(recorded(db, world.member.id or 0)) == 1
    page.reload()  # told once
    time.sleep(0.5)
    assert page.locator("#offline-status").is_hidden()
    context.close()
