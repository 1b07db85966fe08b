"""Two real instances (`benefed serve`) with alice's accounts linked: for live tests and benches.

Alice has an account on A (her home) and on B, where she owns an association
and records her actions. Both accounts turn federation on, A asks for the link,
B accepts: from then on B sends her summaries to A.
"""

from dataclasses import dataclass
from typing import Any

import httpx
from sqlmodel import select

from schema.db import Database
from schema.tables import Category, ReceivedSummary
from tests.factories import PASSWORD, make_association, make_user
from tests.federation_support import wait_for
from tests.live import LiveInstance
from tests.test_federation_live import database, host_of, token


@dataclass
class LiveLink:
    """Alice's linked accounts on two live instances."""

    a: LiveInstance
    b: LiveInstance
    db_a: Database
    db_b: Database
    alice_a: dict[str, str]
    alice_b: dict[str, str]
    slug: str
    category_id: int

    def call(
        self, instance: LiveInstance, method: str, path: str, **options: Any
    ) -> httpx.Response:
        """An API call as alice on one of the instances."""
        headers = self.alice_a if instance is self.a else self.alice_b
        return httpx.request(method, instance.url + path, headers=headers, timeout=30, **options)

    def record(self, minutes: int, **fields: Any) -> dict[str, Any]:
        """Record an action on B; its JSON."""
        body = {"minutes": minutes, "category_id": self.category_id, **fields}
        response = self.call(self.b, "POST", f"/api/v1/associations/{self.slug}/actions", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def hours(self) -> dict[str, Any]:
        """A's GET /api/v1/me/hours for alice."""
        response = self.call(self.a, "GET", "/api/v1/me/hours")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def remote_minutes(self) -> int:
        """What A shows of alice's minutes on B."""
        return sum(line["minutes"] for line in self.hours()["associations"] if line["remote"])

    def received(self) -> list[ReceivedSummary]:
        """A's ReceivedSummary rows (tombstones included)."""
        with self.db_a.read() as session:
            return list(session.exec(select(ReceivedSummary)))


def _turn_on(instance: LiveInstance, headers: dict[str, str]) -> None:
    answer = httpx.patch(
        instance.url + "/api/v1/me", json={"federation": True}, headers=headers, timeout=30
    )
    assert answer.status_code == 200, answer.text


def link_live(a: LiveInstance, b: LiveInstance) -> LiveLink:
    """Alice on A and on B, federation on, linked from A and accepted on B."""
    db_a, db_b = database(a), database(b)
    make_user(db_a, username="alice", password=PASSWORD)
    owner = make_user(db_b, username="alice", password=PASSWORD)
    association = make_association(db_b, owner, name="Les Amis du Quartier", slug="amis")
    with db_b.read() as session:
        category = session.exec(
            select(Category).where(Category.association_id == association.id)
        ).first()
    assert category is not None and category.id is not None
    found = LiveLink(a, b, db_a, db_b, token(a, "alice"), token(b, "alice"), "amis", category.id)
    _turn_on(a, found.alice_a)
    _turn_on(b, found.alice_b)
    asked = found.call(a, "POST", "/api/v1/me/links", json={"account": f"alice@{host_of(b)}"})
    assert asked.status_code == 201, asked.text

    def pending() -> int | None:
        items = found.call(b, "GET", "/api/v1/me/link-requests").json()["items"]
        return next((item["id"] for item in items if item["status"] == "pending"), None)

    request_id = wait_for(pending, what="the link request on B")
    accepted = found.call(b, "POST", f"/api/v1/me/link-requests/{request_id}/accept", json={})
    assert accepted.status_code == 200, accepted.text

    def active() -> bool:
        items = found.call(a, "GET", "/api/v1/me/links").json()["items"]
        return [item["status"] for item in items] == ["active"]

    wait_for(active, what="the link active on A")
    return found
