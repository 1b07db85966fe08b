"""Plain factories for test data, and helpers to act as a person over HTTP."""

import re
from itertools import count
from typing import Any

import httpx

from instance import accounts, associations
from schema.db import Database
from schema.tables import Association, Membership, User

PASSWORD = "correct horse battery"
_numbers = count(1)


def make_user(db: Database, **overrides: Any) -> User:
    """An account with a confirmed email (the password is PASSWORD)."""
    number = next(_numbers)
    values: dict[str, Any] = {
        "username": f"person{number}",
        "email": f"person{number}@example.org",
        "password": PASSWORD,
        "email_confirmed": True,
        "language": "en",
    }
    values.update(overrides)
    with db.write() as session:
        return accounts.create_user(session, **values)


def make_association(db: Database, owner: User, **overrides: Any) -> Association:
    """An association owned by ``owner``."""
    values: dict[str, Any] = {"name": f"Association {next(_numbers)}"}
    values.update(overrides)
    with db.write() as session:
        return associations.create_association(session, owner=owner, **values)


def make_membership(
    db: Database, association: Association, user: User | None, **overrides: Any
) -> Membership:
    """A membership row (active volunteer unless told otherwise)."""
    assert association.id is not None
    values: dict[str, Any] = {
        "association_id": association.id,
        "user_id": user.id if user else None,
        "role": "volunteer",
        "status": "active",
    }
    values.update(overrides)
    with db.write() as session:
        membership = Membership(**values)
        session.add(membership)
        session.flush()
        return membership


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def post_form(
    client: httpx.AsyncClient, path: str, data: dict[str, Any], *, page: str | None = None
) -> httpx.Response:
    """Submit a form the way a browser does: load the page, then post with its token."""
    loaded = await client.get(page or path)
    token = csrf_from(loaded.text)
    return await client.post(path, data={**data, "csrf_token": token})


async def log_in(client: httpx.AsyncClient, user: User, password: str = PASSWORD) -> None:
    """Sign in through the login form."""
    response = await post_form(client, "/login", {"login": user.username, "password": password})
    assert response.status_code == 303, response.text
    assert "benefed_session" in client.cookies


async def api_token(
    client: httpx.AsyncClient, user: User, password: str = PASSWORD
) -> dict[str, str]:
    """Authorization headers with a fresh API token."""
    response = await client.post(
        "/api/v1/auth/token", json={"username": user.username, "password": password}
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}
