"""Fast seeding for the actions benchmark, and the actions it records on top.

The rows come from bench.export.seed (one association, 200 volunteers, 12
categories, 5 projects, 3 levels, 3 years, bulk inserts, exact rollups); this
module adds what the actions benchmark needs: the ids to post with, the period
covered, a check that the rollups add up to the actions, a signed-in session,
and random new actions (from Python, and from wrk's Lua for the load).
"""

import json
import random
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from time import perf_counter

import httpx
from sqlmodel import col, func, select

from bench.export import seed
from instance.periods import FIRST_DATE, month_end
from schema.db import Database, make_engine
from schema.tables import Action, Association, Category, Membership, Rollup, User
from tests.live import LiveInstance

OWNER = "bench_owner"
PASSWORD = "bench password 1234"  # the one bench.export.seed gives every account
SESSION_COOKIE = "benefed_session"


@dataclass(frozen=True)
class SeededInstance:
    """A seeded instance directory and what the requests need."""

    instance: LiveInstance
    slug: str
    token: str
    actions: int
    seconds: float
    first_day: date
    last_day: date
    category_ids: list[int]
    volunteer_ids: list[int]


def _ids(db: Database, slug: str) -> tuple[list[int], list[int], date, date]:
    with db.read() as session:
        association = session.exec(select(Association).where(Association.slug == slug)).one()
        categories = session.exec(
            select(Category.id).where(Category.association_id == association.id)
        ).all()
        members = session.exec(
            select(Membership.id, User.username)
            .join(User, col(User.id) == col(Membership.user_id))
            .where(Membership.association_id == association.id)
        ).all()
        first, last = session.exec(
            select(func.min(Action.date), func.max(Action.date)).where(
                Action.association_id == association.id
            )
        ).one()
    volunteers = [member_id for member_id, name in members if name != OWNER and member_id]
    return [c for c in categories if c], volunteers, first, last


def check_rollups(db: Database, slug: str) -> None:
    """Fail unless the rollups' counted minutes equal the validated actions' minutes."""
    with db.read() as session:
        association_id = session.exec(select(Association.id).where(Association.slug == slug)).one()
        counted = session.exec(
            select(func.sum(Rollup.minutes_counted)).where(
                Rollup.association_id == association_id, Rollup.dimension == "total"
            )
        ).one()
        actual = session.exec(
            select(func.sum(Action.minutes)).where(
                Action.association_id == association_id, Action.status == "validated"
            )
        ).one()
    if counted != actual:
        raise SystemExit(f"rollups are not exact: {counted} counted, {actual} in the actions")


def seed_instance(directory: Path, count: int) -> SeededInstance:
    """Migrate a new instance in `directory`, seed `count` actions and check the rollups."""
    instance = LiveInstance(directory)
    instance.write_config()
    instance.cli("migrate")
    started = perf_counter()
    database_url = f"sqlite:///{directory / 'benefed.db'}"
    seeded = seed(database_url, count)
    seconds = perf_counter() - started
    db = Database(make_engine(database_url))
    try:
        check_rollups(db, seeded.slug)
        categories, volunteers, first, last = _ids(db, seeded.slug)
    finally:
        db.dispose()
    return SeededInstance(
        instance=instance,
        slug=seeded.slug,
        token=seeded.token,
        actions=count,
        seconds=seconds,
        # Whole months: the period of the statistics covers every action.
        first_day=max(first.replace(day=1), FIRST_DATE),
        last_day=month_end(last),
        category_ids=categories,
        volunteer_ids=volunteers,
    )


@dataclass(frozen=True)
class BrowserSession:
    """A signed-in manager's session cookie and the CSRF token that goes with it."""

    cookie: str
    csrf_token: str


def browser_session(url: str, slug: str) -> BrowserSession:
    """Sign the owner in through /login, then open the action form for its CSRF token."""
    with httpx.Client(base_url=url, timeout=30) as client:
        page = client.get("/login")
        response = client.post(
            "/login", data={"login": OWNER, "password": PASSWORD, "csrf_token": _csrf(page.text)}
        )
        if response.status_code != 303:
            raise SystemExit(f"could not sign in: {response.status_code} {response.text[:300]}")
        form = client.get(f"/associations/{slug}/actions/new")
        form.raise_for_status()
        return BrowserSession(client.cookies[SESSION_COOKIE], _csrf(form.text))


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if match is None:
        raise SystemExit("no CSRF token on the page")
    return match.group(1)


# New actions: a random volunteer, category, date within the last year and duration.


def random_action(seeded: SeededInstance) -> dict[str, int | str]:
    """The API body of a random new action."""
    return {
        "volunteer_id": random.choice(seeded.volunteer_ids),
        "date": (date.today() - timedelta(days=random.randint(1, 365))).isoformat(),
        "minutes": random.randint(10, 300),
        "category_id": random.choice(seeded.category_ids),
    }


def post_api(url: str, seeded: SeededInstance, client: httpx.Client | None = None) -> int:
    """Record one random action through the API; return the status."""
    path = f"{url}/api/v1/associations/{seeded.slug}/actions"
    headers = {"Authorization": f"Bearer {seeded.token}"}
    body = random_action(seeded)
    if client is None:
        return httpx.post(path, json=body, headers=headers, timeout=30).status_code
    return client.post(path, json=body, headers=headers).status_code


def post_form(url: str, seeded: SeededInstance, browser: BrowserSession) -> int:
    """Record one random action through the form; return the status."""
    action = random_action(seeded)
    minutes = int(action.pop("minutes"))
    form = {**action, "hours": minutes // 60, "mins": minutes % 60}
    response = httpx.post(
        f"{url}/associations/{seeded.slug}/actions/new",
        data={"csrf_token": browser.csrf_token, **{k: str(v) for k, v in form.items()}},
        headers={"Cookie": f"{SESSION_COOKIE}={browser.cookie}"},
        timeout=30,
    )
    return response.status_code


def _lua_list(values: list[str] | list[int]) -> str:
    return "{" + ", ".join(json.dumps(value) for value in values) + "}"


def _lua(seeded: SeededInstance, headers: dict[str, str], body: str) -> str:
    """A wrk script posting `body` (a Lua expression) with random values each time."""
    days = [(date.today() - timedelta(days=n)).isoformat() for n in range(1, 366)]
    header_lines = "\n".join(
        f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()
    )
    # wrk runs one Lua state per thread (LuaJIT: no // operator); each gets its own seed.
    return f"""
local dates = {_lua_list(days)}
local categories = {_lua_list(seeded.category_ids)}
local volunteers = {_lua_list(seeded.volunteer_ids)}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("number", threads)
end
function init(args)
  math.randomseed(os.time() * 16 + (number or 0))
end
local function pick(list) return list[math.random(#list)] end
wrk.method = "POST"
{header_lines}
function request()
  local minutes = math.random(10, 300)
  return wrk.format(nil, nil, nil, {body})
end
"""


def form_lua(seeded: SeededInstance, browser: BrowserSession) -> str:
    """A wrk script posting the action form with the session cookie and its CSRF token."""
    body = (
        f'string.format("csrf_token={browser.csrf_token}&volunteer_id=%d&date=%s'
        '&hours=%d&mins=%d&category_id=%d&title=wrk", pick(volunteers), pick(dates), '
        "math.floor(minutes / 60), minutes % 60, pick(categories))"
    )
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"{SESSION_COOKIE}={browser.cookie}",
    }
    return _lua(seeded, headers, body)


def api_lua(seeded: SeededInstance) -> str:
    """A wrk script posting an action as JSON with the Bearer token."""
    body = (
        'string.format(\'{"volunteer_id": %d, "date": "%s", "minutes": %d, "category_id": %d}\', '
        "pick(volunteers), pick(dates), minutes, pick(categories))"
    )
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {seeded.token}"}
    return _lua(seeded, headers, body)
