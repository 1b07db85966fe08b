"""Joining a network between real instances (`benefed serve` processes on loopback).

Associations on A and B ask to join the network "reseau" on C through the
public API; C's managers accept one and refuse the other, and the statuses
reach the members. The refused one asks again and is accepted, then removed
by the network. The accepted one leaves and asks for its figures to be
deleted. An association on C joins its own instance's network.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlmodel import select

from schema.db import Database
from schema.tables import NetworkMember, ReceivedReport
from tests.factories import make_association, make_user
from tests.federation_support import wait_for
from tests.live import LiveInstance
from tests.test_federation_live import database, host_of, token

# Its instances keep their own SQLite files whatever the test database:
# the PostgreSQL pass of scripts/test.sh leaves it out.
pytestmark = pytest.mark.sqlite_only


@dataclass
class Manager:
    """An association's owner on a live instance."""

    instance: LiveInstance
    db: Database
    headers: dict[str, str]
    slug: str

    def call(self, method: str, path: str, **options: Any) -> httpx.Response:
        """An API call as the owner."""
        url = self.instance.url + path
        return httpx.request(method, url, headers=self.headers, timeout=30, **options)

    def ask(self, network: str, anonymous: bool = False) -> httpx.Response:
        """Ask to join a network by its handle."""
        body = {"network": network, "anonymous": anonymous}
        return self.call("POST", f"/api/v1/associations/{self.slug}/networks", json=body)

    def statuses(self) -> list[str]:
        """The statuses of the association's networks."""
        answer = self.call("GET", f"/api/v1/associations/{self.slug}/networks")
        assert answer.status_code == 200, answer.text
        return [item["status"] for item in answer.json()["items"]]


def manager(instance: LiveInstance, slug: str, **options: Any) -> Manager:
    db = database(instance)
    owner = make_user(db, username=f"owner{slug}")
    make_association(db, owner, name=f"Asso {slug}", slug=slug, **options)
    return Manager(instance, db, token(instance, owner.username), slug)


def requests_of(network: Manager, status: str = "pending") -> dict[str, int]:
    """The network's requests (or members) of a status: actor -> id."""
    path = f"/api/v1/networks/{network.slug}/requests?status={status}"
    answer = network.call("GET", path)
    assert answer.status_code == 200, answer.text
    return {item["from"]: item["id"] for item in answer.json()["items"]}


def decide(network: Manager, request_id: int, decision: str) -> dict[str, Any]:
    path = f"/api/v1/networks/{network.slug}/requests/{request_id}/{decision}"
    answer = network.call("POST", path, json={})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def actor(member: Manager) -> str:
    return f"{member.instance.url}/associations/{member.slug}"


def reports_of(network: Manager, member_id: int) -> list[ReceivedReport]:
    with network.db.read() as session:
        query = select(ReceivedReport).where(ReceivedReport.member_id == member_id)
        return list(session.exec(query))


def test_joining_answers_leaving_and_removal_across_three_instances(
    live: Callable[..., LiveInstance],
) -> None:
    a, b, c = live("a"), live("b"), live("c")
    alpha, beta = manager(a, "alpha"), manager(b, "beta")
    network = manager(c, "reseau", is_network=True)
    gamma = manager(c, "gamma")
    handle = f"reseau@{host_of(c)}"

    asked = alpha.ask(handle, anonymous=True)
    assert asked.status_code == 201, asked.text
    assert asked.json()["status"] == "pending" and asked.json()["network"] == handle
    assert beta.ask(handle).status_code == 201
    assert beta.ask(handle).status_code == 422  # twice
    waiting = wait_for(
        lambda: (found := requests_of(network)) and len(found) == 2 and found,
        what="both requests on C",
    )
    assert set(waiting) == {actor(alpha), actor(beta)}
    with network.db.read() as session:
        rows = {m.actor_uri: m for m in session.exec(select(NetworkMember))}
    assert rows[actor(alpha)].anonymous and rows[actor(alpha)].name == "Asso alpha"
    assert not rows[actor(beta)].anonymous

    assert decide(network, waiting[actor(alpha)], "accept")["status"] == "active"
    assert decide(network, waiting[actor(beta)], "refuse")["status"] == "refused"
    wait_for(lambda: alpha.statuses() == ["active"], what="alpha active on A")
    wait_for(lambda: beta.statuses() == ["refused"], what="beta refused on B")
    mapping = alpha.call("GET", f"/api/v1/associations/alpha/networks/{handle}/mapping")
    assert mapping.status_code == 200 and mapping.json()["categories"][-1]["key"] == "other"

    # The refused association asks again; accepted, then removed by the network.
    assert beta.ask(handle).status_code == 201
    again = wait_for(lambda: requests_of(network).get(actor(beta)), what="beta's new request")
    decide(network, again, "accept")
    wait_for(lambda: beta.statuses() == ["active"], what="beta active on B")
    removed = network.call("DELETE", f"/api/v1/networks/reseau/members/{again}")
    assert removed.status_code == 204
    wait_for(lambda: beta.statuses() == ["left"], what="beta removed, seen on B")

    # alpha's monthly report arrived; alpha leaves and asks for its figures to be deleted.
    alpha_id = waiting[actor(alpha)]
    wait_for(lambda: reports_of(network, alpha_id), what="alpha's first report on C")
    left = alpha.call("DELETE", f"/api/v1/associations/alpha/networks/{handle}?erase=true")
    assert left.status_code == 204
    assert alpha.statuses() == ["left"]
    wait_for(lambda: not requests_of(network, "active"), what="no active member left on C")
    wait_for(
        lambda: all(r.deleted for r in reports_of(network, alpha_id)), what="alpha's reports gone"
    )
    assert requests_of(network, "left").keys() == {actor(alpha), actor(beta)}

    # An association on C joins C's own network: no traffic, at once.
    assert gamma.ask(handle).status_code == 201
    local = requests_of(network)
    assert list(local) == [actor(gamma)]
    decide(network, local[actor(gamma)], "accept")
    assert gamma.statuses() == ["active"]
    public = httpx.get(f"{c.url}/api/v1/networks/reseau/members", timeout=30).json()
    assert [item["name"] for item in public["items"]] == ["Asso gamma"]
    assert gamma.call("DELETE", f"/api/v1/associations/gamma/networks/{handle}").status_code == 204
    assert gamma.statuses() == ["left"] and not requests_of(network, "active")
