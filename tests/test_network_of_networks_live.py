"""A region network forwards to a national one (three `benefed serve` processes on loopback).

Two associations on A join the regional network on R; the region itself joins
the national network on N (asked by its manager on R, accepted on N, its
reference categories mapped onto the nation's). The nation receives reports
from the region only, signed by the region, stating the exact sums of its
members' reports; a correction on A travels A -> R -> N and the national
totals stay exact.
"""

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import col, select

from schema.tables import Association, ReceivedReport, ReferenceCategory
from tests.factories import PASSWORD, make_association, make_user
from tests.federation_support import wait_for
from tests.live import LiveInstance
from tests.test_federation_live import database, token
from tests.test_network_reports_live import (
    Side,
    categories_of,
    month,
    own_totals,
    record,
    volunteers,
)

# Its instances keep their own SQLite files whatever the test database:
# the PostgreSQL pass of scripts/test.sh leaves it out.
pytestmark = pytest.mark.sqlite_only


def network(instance: LiveInstance, slug: str, owner: str) -> Side:
    """A network on this instance (default reference categories), its manager's API side."""
    db = database(instance)
    make_association(
        db, make_user(db, username=owner, password=PASSWORD), name=slug.title(), slug=slug,
        is_network=True,
    )  # fmt: skip
    return Side(instance, db, token(instance, owner))


def ask_and_accept(member: Side, slug: str, target: Side, target_slug: str) -> str:
    """The member asks to join, the network accepts; the network's handle on the member side."""
    uri = f"{target.instance.url}/associations/{target_slug}"
    asked = member.call("POST", f"/api/v1/associations/{slug}/networks", json={"network": uri})
    assert asked.status_code == 201, asked.text
    requests = f"/api/v1/networks/{target_slug}/requests"

    def pending() -> int | None:
        items = target.call("GET", requests).json()["items"]
        return next((item["id"] for item in items if item["status"] == "pending"), None)

    request_id = wait_for(pending, what=f"the request of {slug}")
    accepted = target.call("POST", f"{requests}/{request_id}/accept")
    assert accepted.status_code == 200, accepted.text

    def active() -> bool:
        items = member.call("GET", f"/api/v1/associations/{slug}/networks").json()["items"]
        return [item["status"] for item in items] == ["active"]

    wait_for(active, what=f"{slug} a member")
    items = member.call("GET", f"/api/v1/associations/{slug}/networks").json()["items"]
    return str(items[0]["network"])


def map_onto(member: Side, slug: str, handle: str, mapping: dict[str, str]) -> dict[str, Any]:
    """PUT the mapping through the API; the answer."""
    path = f"/api/v1/associations/{slug}/networks/{handle}/mapping"
    answer = member.call("PUT", path, json={"mapping": mapping})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def reference_ids(side: Side, slug: str) -> dict[str, int]:
    """A network's reference categories: key -> id."""
    with side.db.read() as session:
        network = session.exec(select(Association).where(Association.slug == slug)).one()
        query = select(ReferenceCategory).where(ReferenceCategory.network_id == network.id)
        return {
            row.key: row.id or 0 for row in session.exec(query.order_by(col(ReferenceCategory.id)))
        }


def totals(side: Side, slug: str, group_by: str = "month") -> dict[str, Any]:
    """The network's dashboard of this month."""
    params = {"from": month(), "to": month(), "group_by": group_by}
    answer = side.call("GET", f"/api/v1/networks/{slug}/dashboard", params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_region_forwards_exact_sums_to_the_nation(live: Callable[..., LiveInstance]) -> None:
    a, r, n = live("a"), live("r"), live("n")
    region = network(r, "region", "rosa")
    nation = network(n, "nation", "nina")
    db_a = database(a)
    alice = make_user(db_a, username="alice", password=PASSWORD)
    for slug in ("amis", "jardin"):
        make_association(db_a, alice, name=slug.title(), slug=slug)
    member = Side(a, db_a, token(a, "alice"))
    region_keys = reference_ids(region, "region")
    for slug in ("amis", "jardin"):
        handle = ask_and_accept(member, slug, region, "region")
        first, second, *_rest = categories_of(db_a, slug)
        map_onto(member, slug, handle, {str(first): "formation", str(second): "logistique"})
    # The region joins the nation and maps its reference categories onto the nation's.
    handle = ask_and_accept(region, "region", nation, "nation")
    mapped = map_onto(
        region, "region", handle, {str(i): key for key, i in region_keys.items() if key != "other"}
    )
    assert mapped["mapping"] == {str(i): key for key, i in region_keys.items()}

    for slug in ("amis", "jardin"):
        first, second, *_rest = categories_of(db_a, slug)
        people = volunteers(db_a, slug, 6)
        record(db_a, slug, *[(p, 40, first) for p in people], *[(p, 25, second) for p in people])
    expected = own_totals(member, ["amis", "jardin"])["minutes"]
    assert expected == 2 * 6 * (40 + 25)

    def national() -> int:
        return int(totals(nation, "nation")["total_minutes"])

    wait_for(lambda: totals(region, "region")["total_minutes"] == expected, timeout=60)
    wait_for(lambda: national() == expected, timeout=60, what="the region's sums on N")
    by_member = totals(nation, "nation", "member")["groups"]
    assert [group["minutes"] for group in by_member] == [expected]
    groups = totals(nation, "nation", "category")["groups"]
    by_category = {g["key"]: g["minutes"] for g in groups if g["minutes"]}
    assert by_category == {"formation": 2 * 6 * 40, "logistique": 2 * 6 * 25}
    with nation.db.read() as session:  # only the region speaks to the nation
        issuers = {row.issuer_uri for row in session.exec(select(ReceivedReport))}
    assert issuers == {f"{r.url}/associations/region"}

    # A correction on A travels to the region, then to the nation.
    first, *_rest = categories_of(db_a, "amis")
    record(db_a, "amis", (volunteers(db_a, "amis", 1)[0], 30, first))
    wait_for(lambda: national() == expected + 30, timeout=60, what="the correction on N")
    assert own_totals(member, ["amis", "jardin"])["minutes"] == expected + 30
