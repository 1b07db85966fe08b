"""Links between a person's accounts on two real instances (`benefed serve` processes).

Alice has an account on A (her home) and on B. She turns federation on on both,
links them from A, accepts on B; then the link is ended from either side, a
request is refused, and a third person's request is refused without anything
about Alice being exposed.
"""

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.factories import PASSWORD, make_user
from tests.federation_support import wait_for
from tests.live import LiveInstance
from tests.test_federation_live import database, host_of, token

# Its instances keep their own SQLite files whatever the test database:
# the PostgreSQL pass of scripts/test.sh leaves it out.
pytestmark = pytest.mark.sqlite_only

LINKS = "/api/v1/me/links"
REQUESTS = "/api/v1/me/link-requests"


def api(
    instance: LiveInstance, headers: dict[str, str], method: str, path: str, **options: Any
) -> httpx.Response:
    """One API call on a live instance."""
    return httpx.request(method, instance.url + path, headers=headers, timeout=30, **options)


def statuses(instance: LiveInstance, headers: dict[str, str], path: str) -> list[str]:
    """The statuses of my links (or requests), oldest first."""
    return [item["status"] for item in api(instance, headers, "GET", path).json()["items"]]


def turn_on(instance: LiveInstance, headers: dict[str, str]) -> None:
    answer = api(instance, headers, "PATCH", "/api/v1/me", json={"federation": True})
    assert answer.status_code == 200 and answer.json()["federation"] is True


def ask(instance: LiveInstance, headers: dict[str, str], account: str) -> httpx.Response:
    return api(instance, headers, "POST", LINKS, json={"account": account})


def pending_request(instance: LiveInstance, headers: dict[str, str]) -> dict[str, Any] | None:
    items = api(instance, headers, "GET", REQUESTS).json()["items"]
    waiting = [item for item in items if item["status"] == "pending"]
    return waiting[0] if waiting else None


def decide(
    instance: LiveInstance, headers: dict[str, str], request_id: int, verb: str
) -> dict[str, Any]:
    answer = api(instance, headers, "POST", f"{REQUESTS}/{request_id}/{verb}", json={})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_link_accept_end_refuse_across_two_live_instances(
    live: Callable[..., LiveInstance],
) -> None:
    a, b = live("a"), live("b")
    db_a, db_b = database(a), database(b)
    for db in (db_a, db_b):
        make_user(db, username="alice", password=PASSWORD)
    alice_a, alice_b = token(a, "alice"), token(b, "alice")
    account = f"alice@{host_of(b)}"
    home_account = f"alice@{host_of(a)}"

    off = ask(a, alice_a, account)  # federation off here: refused, clearly
    assert off.status_code == 409 and "Turn it on before linking" in off.json()["detail"]
    turn_on(a, alice_a)
    finger = httpx.get(
        f"{b.url}/.well-known/webfinger", params={"resource": f"acct:{account}"}, timeout=10
    )
    assert finger.status_code == 404  # off there: her handle does not resolve
    unresolved = ask(a, alice_a, account)
    assert unresolved.status_code == 422
    assert "federation is turned on" in unresolved.json()["errors"]["account"]
    missing = ask(a, alice_a, f"nobody@{host_of(b)}")
    assert missing.status_code == 422 and missing.headers["content-type"].startswith(
        "application/problem+json"
    )
    turn_on(b, alice_b)

    created = ask(a, alice_a, account)  # linked, accepted there: active on both
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "pending" and created.json()["account"] == account
    request = wait_for(lambda: pending_request(b, alice_b), what="the request on B")
    assert request["from"] == home_account
    assert decide(b, alice_b, request["id"], "accept")["status"] == "active"
    wait_for(lambda: statuses(a, alice_a, LINKS) == ["active"], what="the link active on A")
    assert statuses(b, alice_b, REQUESTS) == ["active"]

    ended = api(a, alice_a, "DELETE", f"{LINKS}/{created.json()['id']}")  # end from home
    assert ended.status_code == 204
    wait_for(lambda: statuses(b, alice_b, REQUESTS) == ["ended"], what="Undo processed on B")

    again = ask(a, alice_a, account)  # asked again, refused there
    assert again.json()["id"] == created.json()["id"] and again.json()["status"] == "pending"
    request = wait_for(lambda: pending_request(b, alice_b), what="the new request on B")
    assert decide(b, alice_b, request["id"], "refuse")["status"] == "refused"
    wait_for(lambda: statuses(a, alice_a, LINKS) == ["refused"], what="the refusal on A")

    ask(a, alice_a, account)  # asked once more, accepted, then ended from B (Reject)
    request = wait_for(lambda: pending_request(b, alice_b), what="the third request on B")
    decide(b, alice_b, request["id"], "accept")
    wait_for(lambda: statuses(a, alice_a, LINKS) == ["active"], what="active again")
    assert decide(b, alice_b, request["id"], "refuse")["status"] == "ended"
    wait_for(lambda: statuses(a, alice_a, LINKS) == ["ended"], what="ended by B, not refused")


@contextmanager
def browser(instance: LiveInstance, username: str) -> Iterator[httpx.Client]:
    """A logged-in browser session on a live instance."""
    with httpx.Client(base_url=instance.url, timeout=30) as client:
        page = client.get("/login")
        token_value = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token_value is not None
        answer = client.post(
            "/login",
            data={"login": username, "password": PASSWORD, "csrf_token": token_value.group(1)},
        )
        assert answer.status_code == 303, answer.text
        yield client


def post_page(client: httpx.Client, path: str, data: dict[str, str]) -> httpx.Response:
    page = client.get("/account/links")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return client.post(path, data={**data, "csrf_token": found.group(1)})


def test_third_person_refused_and_federation_off_ends_links(
    live: Callable[..., LiveInstance],
) -> None:
    a, b = live("a"), live("b")
    db_a, db_b = database(a), database(b)
    make_user(db_a, username="alice", password=PASSWORD)
    make_user(db_a, username="mallory", password=PASSWORD)
    make_user(db_b, username="alice", password=PASSWORD, display_name="Alice B")
    alice_a, mallory, alice_b = token(a, "alice"), token(a, "mallory"), token(b, "alice")
    for instance, headers in ((a, alice_a), (a, mallory), (b, alice_b)):
        turn_on(instance, headers)
    account = f"alice@{host_of(b)}"

    assert ask(a, mallory, account).status_code == 201  # someone else asks for her hours
    request = wait_for(lambda: pending_request(b, alice_b), what="mallory's request on B")
    assert request["from"] == f"mallory@{host_of(a)}"
    actor = httpx.get(
        f"{b.url}/users/alice", headers={"accept": "application/activity+json"}, timeout=10
    )
    followers = httpx.get(f"{b.url}/users/alice/followers", timeout=10)
    outbox = httpx.get(f"{b.url}/users/alice/outbox", timeout=10)
    assert actor.json()["type"] == "Person"
    assert followers.json()["totalItems"] == 0 and outbox.json()["totalItems"] == 0
    for document in (actor.json(), followers.json(), outbox.json()):
        text = str(document)
        assert "association" not in text and "minutes" not in text and "Summary" not in text
    assert decide(b, alice_b, request["id"], "refuse")["status"] == "refused"
    wait_for(lambda: statuses(a, mallory, LINKS) == ["refused"], what="mallory refused")

    ask(a, alice_a, account)  # her own link, accepted; then she turns federation off on B
    request = wait_for(lambda: pending_request(b, alice_b), what="alice's request on B")
    decide(b, alice_b, request["id"], "accept")
    wait_for(lambda: statuses(a, alice_a, LINKS) == ["active"], what="alice's link active")
    with browser(b, "alice") as client:
        page = client.get("/account/links")
        assert "Turn off federation" in page.text and f"From mallory@{host_of(a)}" not in page.text
        answer = post_page(client, "/account/links/federation", {"federation": "off"})
        assert answer.status_code == 303
        page = client.get("/account/links")
    assert "Federation is turned off" in page.text
    wait_for(lambda: statuses(a, alice_a, LINKS) == ["ended"], what="the link ended on A")
    assert statuses(b, alice_b, REQUESTS) == ["refused", "ended"]
    finger = httpx.get(
        f"{b.url}/.well-known/webfinger", params={"resource": f"acct:{account}"}, timeout=10
    )
    assert finger.status_code == 404
    refused = ask(a, alice_a, account)
    assert refused.status_code == 422 and "federation" in refused.json()["errors"]["account"]
