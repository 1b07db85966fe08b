"""Every route that changes something gets hostile input: never a 500, nothing half-written.

The cases are generated from the route table, so a new POST, PATCH or DELETE
route is covered the day it appears; each is sent by a person allowed to use the
route (so the input checks are reached, not just the permission checks). The
specific messages of each form and endpoint are tested in each area's tests.
"""

from pathlib import Path
from typing import Any

import httpx
import pytest

from instance.config import Config
from tests.conftest import make_config
from tests.test_route_matrix import (
    CSRF,
    POLICIES,
    ROLES,
    ROUTES,
    World,
    build_world,
    concrete_path,
    session_cookie,
    table_digest,
)
from web.app import build_services, create_app

# Its instances keep their own SQLite files whatever the test database:
# the PostgreSQL pass of scripts/test.sh leaves it out.
pytestmark = pytest.mark.sqlite_only

SCRIPT = '<script>alert("x")</script>'
SQL = "'; DROP TABLE user; --"
HOSTILE_TEXT = {
    "name": SCRIPT,
    "title": SQL,
    "description": "x" * 20_000,
    "content": SCRIPT * 50,
    "email": "not an address",
    "minutes": "-30",
    "date": "2999-12-31",
    "end_date": "yesterday",
    "category_id": "999999",
    "volunteer_id": "abc",
    "hourly_rate": "lots",
    "effective_from": "31/31/2024",
    "role": "emperor",
    "password": "",
    "reason": "",
    "account": "no-such-handle",
    "label": SCRIPT,
    "bundle": SCRIPT,  # POST /verify: pasted attestation
    "threshold": "lots",
    "licence": SCRIPT,
    "direction": SCRIPT,
    "network": SCRIPT,  # asking to join a network: not an address
}
JSON_BODIES: dict[str, Any] = {
    "wrong-types": {
        "name": 5,
        "minutes": "abc",
        "date": 20240101,
        "category_id": "x",
        "join_policy": ["open"],
        "hidden": "sometimes",
        "ids": "all",
        "role": None,
        "content": {"a": 1},
        "email": 3,
        "account": 7,
        "permissions": "all",
        "network": 5,
        "anonymous": "yes",
    },
    "hostile-strings": {k: v for k, v in HOSTILE_TEXT.items() if k != "password"},
    "unknown-ids": {"category_id": 2**31 + 5, "volunteer_id": -1, "ids": [999_999], "level_id": 0},
}


def allowed_role(row: str) -> str:
    """The least powerful role the matrix allows on this route."""
    policy = POLICIES[ROUTES[row]]
    for role, outcome in zip(ROLES, policy, strict=True):
        if outcome == "ok" and role != "anonymous":
            return role
    return "admin" if ROUTES[row] == "admin" else "owner"


def mutating_rows() -> list[str]:
    return sorted(row for row in ROUTES if row.split(" ")[0] in {"POST", "PATCH", "DELETE"})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("bad-input"))


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path, database_url=f"sqlite:///{tmp_path / 'case.db'}")


def test_every_mutating_route_is_covered() -> None:
    rows = mutating_rows()
    assert len(rows) > 50
    assert all(row in ROUTES for row in rows)


async def send(
    world: World, config: Config, tmp_path: Path, row: str, case: str
) -> tuple[httpx.Response, bool]:
    """Send one hostile request on a fresh copy; (response, database unchanged)."""
    (tmp_path / "case.db").write_bytes(world.path.read_bytes())
    services = build_services(config)
    app = create_app(config, services=services)
    method, template = row.split(" ", 1)
    path = concrete_path(template, world.ids)
    role = allowed_role(row)
    user = world.users.get(role)
    is_api = path.startswith("/api/") or path.endswith("/inbox")
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    if is_api and user is not None:
        headers["authorization"] = f"Bearer {world.tokens[role]}"
    elif not is_api:
        cookies["benefed_session"] = session_cookie(user)
    before = table_digest(services.db.engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", cookies=cookies
    ) as client:
        if case == "oversized":
            body = b"x" * (config.security.max_body_bytes + 10)
            response = await client.request(method, path, headers=headers, content=body)
        elif is_api and case == "not-json":
            headers["content-type"] = "application/json"
            response = await client.request(method, path, headers=headers, content=b"{not json")
        elif is_api and case == "not-an-object":
            response = await client.request(method, path, headers=headers, json=[1, 2, 3])
        elif is_api:
            response = await client.request(method, path, headers=headers, json=JSON_BODIES[case])
        elif case == "no-csrf":
            response = await client.request(method, path, data=dict(HOSTILE_TEXT))
        else:
            response = await client.request(method, path, data={**HOSTILE_TEXT, "csrf_token": CSRF})
    unchanged = table_digest(services.db.engine) == before
    services.db.dispose()
    return response, unchanged


API_CASES = (
    "not-json",
    "not-an-object",
    "wrong-types",
    "hostile-strings",
    "unknown-ids",
    "oversized",
)
FORM_CASES = ("no-csrf", "hostile-strings", "oversized")


@pytest.mark.parametrize("row", mutating_rows())
async def test_hostile_input(row: str, world: World, config: Config, tmp_path: Path) -> None:
    template = row.split(" ", 1)[1]
    is_api = template.startswith("/api/") or template.endswith("/inbox")
    problems = []
    for case in API_CASES if is_api else FORM_CASES:
        response, unchanged = await send(world, config, tmp_path, row, case)
        status = response.status_code
        if status >= 500:
            problems.append(f"{case}: {status}")
        if case == "oversized" and status != 413:
            problems.append(f"{case}: expected 413, got {status}")
        # A DELETE that takes no body may ignore it; every other route must refuse.
        body_ignored = row.startswith("DELETE") and case in {"not-json", "not-an-object"}
        if case in {"not-json", "not-an-object", "oversized", "no-csrf"} and not body_ignored:
            if status < 400:
                problems.append(f"{case}: accepted with {status}")
            if not unchanged:
                problems.append(f"{case}: the database changed")
        if case == "no-csrf" and status not in {403, 413}:
            problems.append(f"no-csrf: expected 403, got {status}")
        if status >= 400 and not unchanged and not template.endswith("/inbox"):
            problems.append(f"{case}: refused with {status} but the database changed")
        if "text/html" in response.headers.get("content-type", "") and SCRIPT in response.text:
            problems.append(f"{case}: the script tag came back unescaped")
        if is_api and status >= 400 and status != 413:
            kind = response.headers.get("content-type", "")
            if "json" not in kind:
                problems.append(f"{case}: error answered as {kind}, not problem details")
    assert not problems, "; ".join(problems)
