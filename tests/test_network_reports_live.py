"""Network reports between real instances (`benefed serve` processes on loopback).

Two associations on A join the network "reseau" on B through the public API
(asked on A, accepted on B) and map their categories. Their reports reach B:
the dashboard totals equal the sum of the associations' own summaries exactly,
a category of two volunteers is hidden in "other", a correction arrives as an
Update while a second one the same day waits, a forged report is flagged and
never counted, and a replayed one changes nothing.
"""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlmodel import col, select

from federation import actor_keys, urls
from instance import actions
from instance.config import load_config
from instance.periods import month_end
from schema.db import Database
from schema.tables import (
    Association,
    Category,
    InboxItem,
    NetworkProfile,
    ReceivedReport,
    ReferenceCategory,
    ReportChange,
    SentReport,
    User,
)
from schema.tables._base import utcnow
from tests.factories import PASSWORD, make_association, make_membership, make_user
from tests.federation_support import FakeActor, signed_headers, wait_for
from tests.live import LiveInstance
from tests.test_actions_support import quick_user, set_rules
from tests.test_federation_live import database, token

# Its instances keep their own SQLite files whatever the test database:
# the PostgreSQL pass of scripts/test.sh leaves it out.
pytestmark = pytest.mark.sqlite_only

ZONE = ZoneInfo("Europe/Paris")  # the live instances' default time zone


@dataclass
class Side:
    """One live instance, its database, and a manager's API headers."""

    instance: LiveInstance
    db: Database
    headers: dict[str, str]

    def call(self, method: str, path: str, **options: Any) -> httpx.Response:
        """An API call as the manager."""
        return httpx.request(
            method, self.instance.url + path, headers=self.headers, timeout=30, **options
        )


def today() -> date:
    """Today where the live instances are."""
    return utcnow().astimezone(ZONE).date()


def month() -> str:
    """This month."""
    return f"{today():%Y-%m}"


def network_side(b: LiveInstance) -> Side:
    """The network "reseau" on B: threshold 3, reference categories care, food, learn."""
    db = database(b)
    owner = make_user(db, username="nadia", password=PASSWORD)
    network = make_association(db, owner, name="Réseau", slug="reseau", is_network=True)
    with db.write() as session:
        profile = session.get(NetworkProfile, network.id) or NetworkProfile(
            association_id=network.id or 0
        )
        profile.threshold = 3
        session.add(profile)
        for position, key in enumerate(("care", "food", "learn")):
            session.add(
                ReferenceCategory(
                    network_id=network.id or 0, key=key, label=key.title(), position=position
                )
            )
    return Side(b, db, token(b, "nadia"))


def categories_of(db: Database, slug: str) -> list[int]:
    """The association's category ids, in order."""
    with db.read() as session:
        association = session.exec(select(Association).where(Association.slug == slug)).one()
        query = select(Category.id).where(Category.association_id == association.id)
        return [int(found) for found in session.exec(query.order_by(col(Category.id)))]


def join(member: Side, slug: str, network: Side, mapping: dict[int, str]) -> None:
    """Ask on A, accept on B, map the categories on A (all through the API)."""
    uri = f"{network.instance.url}/associations/reseau"
    asked = member.call("POST", f"/api/v1/associations/{slug}/networks", json={"network": uri})
    assert asked.status_code == 201, asked.text

    def pending() -> int | None:
        items = network.call("GET", "/api/v1/networks/reseau/requests").json()["items"]
        return next((item["id"] for item in items if item["status"] == "pending"), None)

    request_id = wait_for(pending, what=f"the request of {slug} on B")
    accepted = network.call("POST", f"/api/v1/networks/reseau/requests/{request_id}/accept")
    assert accepted.status_code == 200, accepted.text

    def active() -> bool:
        items = member.call("GET", f"/api/v1/associations/{slug}/networks").json()["items"]
        return [item["status"] for item in items] == ["active"]

    wait_for(active, what=f"{slug} a member on A")
    name = member.call("GET", f"/api/v1/associations/{slug}/networks").json()["items"][0]["network"]
    mapped = member.call(
        "PUT",
        f"/api/v1/associations/{slug}/networks/{name}/mapping",
        json={"mapping": {str(key): value for key, value in mapping.items()}},
    )
    assert mapped.status_code == 200, mapped.text


def record(db: Database, slug: str, *entries: tuple[User, int, int]) -> None:
    """Actions (volunteer, minutes, category) recorded on A in one transaction."""
    with db.write() as session:
        association = session.exec(select(Association).where(Association.slug == slug)).one()
        for user, minutes, category_id in entries:
            actions.create_action(
                session,
                association=association,
                user=session.get(User, user.id),
                data={"minutes": minutes, "category_id": category_id},
                today=today(),
            )


def volunteers(db: Database, slug: str, count: int) -> list[User]:
    """New volunteers of an association on A."""
    with db.read() as session:
        association = session.exec(select(Association).where(Association.slug == slug)).one()
    found = []
    for _index in range(count):
        user = quick_user(db)
        make_membership(db, association, user)
        found.append(user)
    return found


def own_totals(member: Side, slugs: list[str]) -> dict[str, Any]:
    """The sum of the associations' own summaries of this month (their API)."""
    first = today().replace(day=1)
    period = {"from": first.isoformat(), "to": month_end(first).isoformat()}
    minutes = actions_count = cents = 0
    for slug in slugs:
        summary = member.call("GET", f"/api/v1/associations/{slug}/summary", params=period)
        assert summary.status_code == 200, summary.text
        found = summary.json()
        minutes += found["total_minutes"]
        actions_count += found["actions"]
        amount = found["valued_amount"] or "0.00"
        cents += int(amount.replace(".", ""))
    return {"minutes": minutes, "actions": actions_count, "cents": cents}


def dashboard(network: Side, group_by: str = "month") -> dict[str, Any]:
    """B's dashboard of this month."""
    params = {"from": month(), "to": month(), "group_by": group_by}
    answer = network.call("GET", "/api/v1/networks/reseau/dashboard", params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def network_totals(network: Side) -> dict[str, Any]:
    """What B's dashboard counts this month."""
    found = dashboard(network)
    amount = found["valued_amount"] or "0.00"
    return {
        "minutes": found["total_minutes"],
        "actions": found["total_actions"],
        "cents": int(amount.replace(".", "")),
    }


def received(network: Side, slug: str) -> ReceivedReport:
    """B's report of this month from an association of A."""
    with network.db.read() as session:
        rows = session.exec(select(ReceivedReport).where(ReceivedReport.month == month()))
        [found] = [row for row in rows if row.issuer_uri.endswith(f"/associations/{slug}")]
        return found


def sent_body(member: Side, slug: str) -> dict[str, Any]:
    """A's signed report of this month for an association."""
    with member.db.read() as session:
        rows = session.exec(select(SentReport).where(SentReport.month == month()))
        [found] = [row for row in rows if f"/associations/{slug}/reports/" in row.object_id]
        return dict(json.loads(found.body))


def post_as(member: Side, slug: str, activity: dict[str, Any], inbox: str) -> None:
    """POST an activity to B's inbox, HTTP-signed with the association's real key on A."""
    config = load_config(member.instance.config_path)
    with member.db.write() as session:
        association = session.exec(select(Association).where(Association.slug == slug)).one()
        key_id, key = actor_keys.signing_key(
            session, config=config, kind="association", owner_id=association.id
        )
    actor = urls.actor_uri(config, "association", slug)
    sender = FakeActor(uri=actor, key=key, key_id=key_id, inbox=f"{actor}/inbox")
    body = json.dumps(activity).encode()
    answer = httpx.post(
        inbox, content=body, headers=signed_headers(sender, inbox, body), timeout=30
    )
    assert answer.status_code == 202, answer.text


def processed(network: Side, activity_id: str) -> bool:
    """True once B processed the activity."""
    with network.db.read() as session:
        item = session.exec(select(InboxItem).where(InboxItem.activity_id == activity_id)).first()
        return item is not None and item.processed_at is not None


def test_reports_reach_the_network_exactly(live: Callable[..., LiveInstance]) -> None:
    a, b = live("a"), live("b")
    network = network_side(b)
    db_a = database(a)
    alice = make_user(db_a, username="alice", password=PASSWORD)
    amis = make_association(db_a, alice, name="Les Amis", slug="amis")
    set_rules(db_a, amis, default_hourly_rate_cents=1237)  # valued at its own rate
    make_association(db_a, alice, name="Le Jardin", slug="jardin")
    member = Side(a, db_a, token(a, "alice"))
    care, food, learn, *_rest = categories_of(db_a, "amis")
    join(member, "amis", network, {care: "care", food: "food", learn: "learn"})
    [garden, *_more] = categories_of(db_a, "jardin")
    join(member, "jardin", network, {garden: "care"})

    people = volunteers(db_a, "amis", 5)
    record(
        db_a,
        "amis",
        *[(person, 61, care) for person in people],  # five people: shown
        *[(person, 17, food) for person in people[:2]],  # two people: hidden
        *[(person, 23, learn) for person in people[2:]],  # three, fewest minutes: hide "food"
    )
    gardener = volunteers(db_a, "jardin", 1)[0]
    record(db_a, "jardin", (gardener, 45, garden))  # one person: totals only
    slugs = ["amis", "jardin"]
    expected = own_totals(member, slugs)
    assert expected["minutes"] == 5 * 61 + 2 * 17 + 3 * 23 + 45
    wait_for(lambda: network_totals(network) == expected, timeout=30, what="exact totals on B")
    by_category = {g["key"]: g["minutes"] for g in dashboard(network, "category")["groups"]}
    assert by_category.get("care") == 5 * 61 and not by_category.get("food")  # hidden
    assert by_category.get("other") == 2 * 17 + 3 * 23
    amis, jardin = received(network, "amis"), received(network, "jardin")
    assert (amis.volunteers, amis.proof_status) == (5, "verified")
    assert (jardin.volunteers, json.loads(jardin.body).get("minutesByCategory")) == (None, None)
    assert gardener.username not in jardin.body and people[0].username not in amis.body

    # A correction is an Update; a second one the same day waits.
    record(db_a, "amis", (people[0], 10, care))
    expected = own_totals(member, slugs)
    wait_for(lambda: network_totals(network) == expected, timeout=30, what="the correction")
    assert json.loads(received(network, "amis").body)["minutes"] == expected["minutes"] - 45
    record(db_a, "amis", (people[1], 5, care))

    def deferred() -> bool:
        with db_a.read() as session:
            rows = session.exec(select(ReportChange)).all()
        return any(row.created_at > utcnow() + timedelta(hours=23) for row in rows)

    wait_for(deferred, timeout=30, what="the second correction waiting for the day")
    assert network_totals(network) == expected  # B still has the first correction
    waiting = own_totals(member, slugs)
    assert waiting["minutes"] == expected["minutes"] + 5

    # A forged report is flagged and never counted; a replay changes nothing.
    genuine = sent_body(member, "jardin")
    inbox = f"{b.url}/associations/reseau/inbox"
    actor = genuine["attributedTo"]
    forged = {**genuine, "minutes": 6000}
    forged["updated"] = (utcnow() + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for obj, kind in ((forged, "Update"), (genuine, "Create")):
        activity = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{actor}/activities/{uuid.uuid4()}",
            "type": kind,
            "actor": actor,
            "to": [f"{b.url}/associations/reseau"],
            "object": obj,
        }
        post_as(member, "jardin", activity, inbox)
        sent_id = activity["id"]
        wait_for(lambda: processed(network, sent_id), what=f"the {kind} processed on B")  # noqa: B023
        row = received(network, "jardin")
        assert row.minutes == 6000 and "does not verify" in row.proof_status
        totals = network_totals(network)
        assert totals["minutes"] == expected["minutes"] - 45  # the flagged month is not counted
        flagged = {line["name"]: line["flagged"] for line in dashboard(network)["freshness"]}
        assert flagged == {"Les Amis": False, "Le Jardin": True}
    record(db_a, "jardin", (gardener, 15, garden))  # its next genuine report counts again
    expected = {**expected, "minutes": expected["minutes"] + 15, "actions": expected["actions"] + 1}
    wait_for(lambda: network_totals(network) == expected, timeout=30, what="jardin verified again")
    assert received(network, "jardin").proof_status == "verified"
