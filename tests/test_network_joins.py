"""Joining a network over ActivityPub: two in-process instances, the API, the pages.

Instance M holds the member associations (the test database), instance N the
network. Every activity really crosses: M's worker POSTs the Follow to N's
inbox, signed, N's worker stores the request; the managers' answers travel back.
"""

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from federation import actor_documents, documents, follows, network_joins, network_requests
from instance import actions as action_domain
from instance import network_links
from instance.errors import Invalid, NotFound
from schema.tables import (
    Association,
    Follow,
    NetworkLink,
    NetworkMember,
    OutboxActivity,
    ReceivedReport,
    RemoteActor,
    ReportChange,
    User,
)
from schema.tables._base import utcnow
from schema.tables.actions import Category
from tests.factories import (
    api_token,
    csrf_from,
    log_in,
    make_association,
    make_membership,
    make_user,
)
from tests.federation_support import Instance, Router, make_instance
from tests.network_support import add_report

SCRIPT = '<script>alert("x")</script>'


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Instance, Instance]:
    """M (members alpha and beta, the test database) and N (the network reseau, plain asso)."""
    router = Router()
    m = make_instance(tmp_path, "m", router, shared_db=True)
    n = make_instance(tmp_path, "n", router)
    owner_m = make_user(m.db, username="ownerm")
    make_association(m.db, owner_m, name="Alpha", slug="alpha")
    make_association(m.db, owner_m, name="Beta", slug="beta")
    owner_n = make_user(n.db, username="ownern")
    make_association(n.db, owner_n, name="Réseau du Sud", slug="reseau", is_network=True)
    make_association(n.db, owner_n, name="Plain", slug="plain")
    return m, n


SETTLED = timedelta(seconds=2)


async def settle(*instances: Instance, rounds: int = 6) -> None:
    """Let every worker run until nothing is left to do.

    The clock runs past the report publisher's coalescing window, so reports
    noted a moment ago are due.
    """
    for _round in range(rounds):
        done = 0
        for instance in instances:
            done += await instance.work(now=utcnow() + SETTLED)
        if not done:
            return


def user_of(instance: Instance, username: str) -> User:
    with instance.db.read() as session:
        return session.exec(select(User).where(User.username == username)).one()


def association_of(instance: Instance, slug: str) -> Association:
    with instance.db.read() as session:
        return session.exec(select(Association).where(Association.slug == slug)).one()


async def call(instance: Instance, username: str, method: str, path: str, **options: Any) -> Any:
    """One API call as the person."""
    async with instance.browser() as client:
        headers = await api_token(client, user_of(instance, username))
        return await client.request(method, path, headers=headers, **options)


async def ask(
    m: Instance, slug: str = "alpha", network: str = "reseau@n.test", **extra: Any
) -> httpx.Response:
    body = {"network": network, **extra}
    return await call(m, "ownerm", "POST", f"/api/v1/associations/{slug}/networks", json=body)


def links_of(instance: Instance) -> dict[str, str]:
    """Each association's link status, by slug."""
    with instance.db.read() as session:
        rows = session.exec(
            select(Association.slug, NetworkLink.status).join(
                NetworkLink,
                NetworkLink.association_id == Association.id,  # type: ignore[arg-type]
            )
        )
        return dict(rows.all())


def members_of(instance: Instance) -> list[NetworkMember]:
    with instance.db.read() as session:
        return list(session.exec(select(NetworkMember).order_by(NetworkMember.id)))  # type: ignore[arg-type]


def queued(instance: Instance, kind: str) -> list[dict[str, Any]]:
    """The activities of one type an instance queued."""
    with instance.db.read() as session:
        query = select(OutboxActivity).where(OutboxActivity.activity_type == kind)
        return [json.loads(row.body) for row in session.exec(query)]


def decide_path(decision: str, member: NetworkMember) -> str:
    return f"/api/v1/networks/reseau/requests/{member.id}/{decision}"


async def joined(m: Instance, n: Instance, slug: str = "alpha", **extra: Any) -> NetworkMember:
    """The association asks, N's owner accepts; the member row."""
    created = await ask(m, slug, **extra)
    assert created.status_code == 201, created.text
    await settle(m, n)
    member = next(x for x in members_of(n) if x.actor_uri.endswith(f"/{slug}"))
    accepted = await call(n, "ownern", "POST", decide_path("accept", member), json={})
    assert accepted.status_code == 200, accepted.text
    await settle(m, n)
    return member


def add_action(instance: Instance, slug: str, minutes: int = 60) -> int:
    """An action of the owner in the association, in a category of its own; the category id."""
    with instance.db.write() as session:
        association = session.exec(select(Association).where(Association.slug == slug)).one()
        category = Category(association_id=association.id, name="Accueil")
        session.add(category)
        session.flush()
        action_domain.create_action(
            session,
            association=association,
            user=session.exec(select(User).where(User.username == "ownerm")).one(),
            data={"date": "2026-03-02", "minutes": minutes, "category_id": category.id},
            today=date(2026, 3, 31),
        )
        assert category.id is not None
        return category.id


# -- the network's actor document ----------------------------------------------------------


async def test_network_actor_publishes_threshold_and_categories(
    pair: tuple[Instance, Instance],
) -> None:
    _m, n = pair
    async with n.browser() as client:
        headers = {"accept": "application/activity+json"}
        network = (await client.get("/associations/reseau", headers=headers)).json()
        plain = (await client.get("/associations/plain", headers=headers)).json()
    assert network["isNetwork"] is True and network["threshold"] == 5
    listed = network["referenceCategories"]
    assert listed["type"] == "ReferenceCategories"
    assert listed["items"][-1]["key"] == "other"
    assert all(set(item) == {"key", "name"} for item in listed["items"])
    terms = network["@context"][-1]
    for term in ("isNetwork", "threshold", "referenceCategories", "ReferenceCategories", "key"):
        assert terms[term].startswith("benefed:")
    assert plain["isNetwork"] is False
    assert "threshold" not in plain and "referenceCategories" not in plain


# -- joining, answers, leaving ----------------------------------------------------------------


async def test_join_accept_makes_the_link_active_and_notes_every_month(
    pair: tuple[Instance, Instance],
) -> None:
    m, n = pair
    add_action(m, "alpha")
    created = await ask(m, anonymous=True)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["network"] == "reseau@n.test" and body["status"] == "pending"
    assert body["name"] == "Réseau du Sud" and body["anonymous"] is True
    [follow] = queued(m, "Follow")
    assert follow["networkMembership"] is True and follow["listedAnonymously"] is True
    assert follow["@context"][1]["networkMembership"] == "benefed:networkMembership"
    with m.db.read() as session:
        remote = session.exec(select(RemoteActor)).one()
    assert actor_documents.stored_document(remote)["referenceCategories"]["items"]
    await settle(m, n)
    [member] = members_of(n)
    assert (member.status, member.name, member.anonymous, member.is_network) == (
        "pending",
        "Alpha",
        True,
        False,
    )
    listed = await call(n, "ownern", "GET", "/api/v1/networks/reseau/requests")
    assert [item["from"] for item in listed.json()["items"]] == ["http://m.test/associations/alpha"]
    accepted = await call(n, "ownern", "POST", decide_path("accept", member), json={})
    assert accepted.status_code == 200 and accepted.json()["status"] == "active"
    await settle(m, n)
    assert links_of(m) == {"alpha": "active"}
    with m.db.read() as session:
        follow_row = session.exec(select(Follow).where(Follow.direction == "out")).one()
    assert follow_row.state == "accepted"
    with n.db.read() as session:  # every month was noted, so March's report reached N
        query = select(ReceivedReport).where(ReceivedReport.month == "2026-03")
        assert [(r.minutes, r.member_id) for r in session.exec(query)] == [(60, member.id)]
    again = await ask(m)
    assert again.status_code == 422
    assert "already a member" in again.json()["errors"]["network"]


async def test_refusal_then_new_request_is_pending_again(pair: tuple[Instance, Instance]) -> None:
    m, n = pair
    assert (await ask(m)).status_code == 201
    twice = await ask(m)
    assert twice.status_code == 422 and "already asked" in twice.json()["errors"]["network"]
    await settle(m, n)
    [member] = members_of(n)
    refused = await call(n, "ownern", "POST", decide_path("refuse", member), json={})
    assert refused.status_code == 200 and refused.json()["status"] == "refused"
    await settle(m, n)
    assert links_of(m) == {"alpha": "refused"}
    assert queued(n, "Reject")[0]["object"]["id"] == queued(m, "Follow")[0]["id"]
    late = await call(n, "ownern", "POST", decide_path("accept", member), json={})
    assert late.status_code == 409
    assert (await ask(m)).status_code == 201
    await settle(m, n)
    assert [x.status for x in members_of(n)] == ["pending"]
    assert links_of(m) == {"alpha": "pending"}


async def test_member_leaves_with_erase_and_its_reports_are_dropped(
    pair: tuple[Instance, Instance],
) -> None:
    m, n = pair
    member = await joined(m, n)
    network = association_of(n, "reseau")
    add_report(n.db, network, member, "2026-03", minutes=90, volunteers=6, categories={"other": 90})
    gone = await call(
        m, "ownerm", "DELETE", "/api/v1/associations/alpha/networks/reseau@n.test?erase=true"
    )
    assert gone.status_code == 204
    [undo] = queued(m, "Undo")
    assert undo["erase"] is True and undo["object"]["type"] == "Follow"
    deletes = queued(m, "Delete")  # the reports sent since the Accept, each deleted
    assert deletes and {d["object"]["type"] for d in deletes} == {"Tombstone"}
    assert links_of(m) == {"alpha": "left"}
    await settle(m, n)
    [row] = members_of(n)
    assert row.status == "left"
    with n.db.read() as session:
        assert {r.deleted for r in session.exec(select(ReceivedReport))} == {True}
    listed = await call(m, "ownerm", "GET", "/api/v1/associations/alpha/networks")
    assert [item["status"] for item in listed.json()["items"]] == ["left"]


async def test_leave_without_erase_keeps_reports(pair: tuple[Instance, Instance]) -> None:
    m, n = pair
    member = await joined(m, n)
    add_report(n.db, association_of(n, "reseau"), member, "2026-03", minutes=30)
    path = "/api/v1/associations/alpha/networks/@reseau@n.test"
    assert (await call(m, "ownerm", "DELETE", path)).status_code == 204
    assert "erase" not in queued(m, "Undo")[0]
    await settle(m, n)
    assert [x.status for x in members_of(n)] == ["left"]
    with n.db.read() as session:
        assert {r.deleted for r in session.exec(select(ReceivedReport))} == {False}
    bad = await call(m, "ownerm", "DELETE", path + "?erase=maybe")
    assert bad.status_code == 422


async def test_network_removes_a_member(pair: tuple[Instance, Instance]) -> None:
    m, n = pair
    member = await joined(m, n)
    removed = await call(n, "ownern", "DELETE", f"/api/v1/networks/reseau/members/{member.id}")
    assert removed.status_code == 204
    await settle(m, n)
    assert links_of(m) == {"alpha": "left"}
    with m.db.read() as session:
        assert session.exec(select(Follow).where(Follow.direction == "out")).one().state == "ended"
    with n.db.read() as session:
        assert session.exec(select(Follow).where(Follow.direction == "in")).one().state == "ended"


async def test_membership_follow_of_an_association_that_is_not_a_network_is_rejected(
    pair: tuple[Instance, Instance],
) -> None:
    m, n = pair
    refused = await ask(m, network="plain@n.test")
    assert refused.status_code == 422
    assert refused.json()["errors"]["network"] == "This account is not a network of associations."
    # Sent anyway (a stale copy said it was a network): N answers Reject, nothing stored.
    with m.db.write() as session:
        remote = session.exec(select(RemoteActor).where(RemoteActor.uri.endswith("/plain"))).one()  # type: ignore[attr-defined]
        remote.document = json.dumps({**actor_documents.stored_document(remote), "isNetwork": True})
        session.add(remote)
        alpha = session.exec(select(Association).where(Association.slug == "alpha")).one()
        owner = session.exec(select(User).where(User.username == "ownerm")).one()
        target = network_joins.Target(remote.uri, remote=remote)
        network_joins.request_join(
            session, config=m.config, association=alpha, by=owner, target=target
        )
    await settle(m, n)
    assert members_of(n) == [] and len(queued(n, "Reject")) == 1
    assert links_of(m) == {"alpha": "refused"}


async def test_an_ordinary_follow_of_a_network_stays_a_follower(
    pair: tuple[Instance, Instance],
) -> None:
    m, n = pair
    follow = await call(
        m,
        "ownerm",
        "POST",
        "/api/v1/associations/alpha/following",
        json={"account": "reseau@n.test"},
    )
    assert follow.status_code == 201
    await settle(m, n)
    assert members_of(n) == [] and links_of(m) == {}


# -- bad input and permissions ------------------------------------------------------------


async def test_bad_requests_are_refused(pair: tuple[Instance, Instance]) -> None:
    m, n = pair
    make_membership(m.db, association_of(m, "alpha"), make_user(m.db, username="vol"))
    make_user(m.db, username="stranger")
    path = "/api/v1/associations/alpha/networks"
    async with m.browser() as client:
        assert (await client.post(path, json={"network": "reseau@n.test"})).status_code == 401
    for who, status in (("vol", 403), ("stranger", 403)):
        response = await call(m, who, "POST", path, json={"network": "reseau@n.test"})
        assert response.status_code == status
        assert (await call(m, who, "GET", path)).status_code == status
    cases: list[dict[str, Any]] = [
        {},
        {"network": ""},
        {"network": 5},
        {"network": "x" * 3000},
        {"network": SCRIPT},
        {"network": "reseau@n.test", "anonymous": "yes"},
        {"network": "reseau@n.test", "extra": 1},
        {"network": "nobody@n.test"},
        {"network": "reseau@nowhere.test"},
        {"network": "alpha@m.test"},
        {"network": "ghost@m.test"},
        {"network": "http://m.test/users/ownerm"},
    ]
    for body in cases:
        response = await call(m, "ownerm", "POST", path, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert links_of(m) == {} and queued(m, "Follow") == []
    assert (await call(m, "ownerm", "DELETE", path + "/reseau@n.test")).status_code == 404
    assert (await call(m, "ownerm", "GET", path + "/nobody@n.test/mapping")).status_code == 404
    listed = await call(m, "ownerm", "GET", path + "?cursor=bad")
    assert listed.status_code == 422


async def test_domain_refuses_non_managers_and_twice(pair: tuple[Instance, Instance]) -> None:
    m, _n = pair
    volunteer = make_user(m.db, username="vol")
    alpha = association_of(m, "alpha")
    make_membership(m.db, alpha, volunteer)
    beta = association_of(m, "beta")
    with m.db.write() as session, pytest.raises(Invalid):
        target = network_joins.Target("http://m.test/associations/alpha", local=alpha)
        network_joins.request_join(
            session, config=m.config, association=alpha, by=user_of(m, "ownerm"), target=target
        )
    with m.db.write() as session, pytest.raises(Invalid) as refused:
        target = network_joins.Target("http://m.test/associations/beta", local=beta)
        network_joins.request_join(
            session, config=m.config, association=alpha, by=user_of(m, "ownerm"), target=target
        )
    assert "not a network" in refused.value.errors["network"]


# -- mapping --------------------------------------------------------------------------------


async def test_mapping_get_put_and_bad_keys(pair: tuple[Instance, Instance]) -> None:
    m, n = pair
    category = add_action(m, "alpha")
    other_category = add_action(m, "beta")
    await joined(m, n)
    with m.db.write() as session:
        session.exec(select(ReportChange)).all()
        for row in session.exec(select(ReportChange)):
            session.delete(row)
    path = "/api/v1/associations/alpha/networks/reseau@n.test/mapping"
    shown = await call(m, "ownerm", "GET", path)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["mapping"][str(category)] == "other"
    assert set(body["mapping"].values()) == {"other"}
    keys = [item["key"] for item in body["categories"]]
    assert keys[-1] == "other" and len(keys) > 2
    chosen = keys[0]
    for bad in (
        {"mapping": {str(category): "no-such-key"}},
        {"mapping": {str(other_category): chosen}},
        {"mapping": {"abc": chosen}},
        {"mapping": {str(category): 5}},
        {"mapping": [chosen]},
        {"mapping": {str(category): chosen}, "x": 1},
        {},
    ):
        response = await call(m, "ownerm", "PUT", path, json=bad)
        assert response.status_code == 422, (bad, response.text)
    with m.db.read() as session:
        assert session.exec(select(ReportChange)).all() == []
    saved = await call(m, "ownerm", "PUT", path, json={"mapping": {str(category): chosen}})
    assert saved.status_code == 200 and saved.json()["mapping"][str(category)] == chosen
    with m.db.read() as session:
        link = session.exec(select(NetworkLink)).one()
        assert network_links.mapping_of(link) == {str(category): chosen}
        assert [c.month for c in session.exec(select(ReportChange))] == ["2026-03"]
    back = await call(m, "ownerm", "PUT", path, json={"mapping": {str(category): "other"}})
    assert set(back.json()["mapping"].values()) == {"other"}
    make_membership(m.db, association_of(m, "alpha"), make_user(m.db, username="vol"))
    assert (await call(m, "vol", "GET", path)).status_code == 403
    assert (await call(m, "vol", "PUT", path, json={"mapping": {}})).status_code == 403


# -- a network on the same instance ---------------------------------------------------------


async def test_association_joins_a_network_of_its_own_instance(
    pair: tuple[Instance, Instance],
) -> None:
    _m, n = pair
    created = await call(
        n,
        "ownern",
        "POST",
        "/api/v1/associations/plain/networks",
        json={"network": "reseau@n.test"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "pending"
    [member] = members_of(n)
    assert (member.status, member.name, member.follow_id) == ("pending", "Plain", None)
    accepted = await call(n, "ownern", "POST", decide_path("accept", member), json={})
    assert accepted.status_code == 200
    assert links_of(n) == {"plain": "active"}
    mapping = await call(
        n, "ownern", "GET", "/api/v1/associations/plain/networks/reseau@n.test/mapping"
    )
    assert mapping.json()["categories"][-1]["key"] == "other"
    add_report(n.db, association_of(n, "reseau"), member, "2026-03", minutes=10)
    gone = await call(
        n, "ownern", "DELETE", "/api/v1/associations/plain/networks/reseau@n.test?erase=true"
    )
    assert gone.status_code == 204
    assert links_of(n) == {"plain": "left"} and [x.status for x in members_of(n)] == ["left"]
    with n.db.read() as session:
        assert [r.deleted for r in session.exec(select(ReceivedReport))] == [True]
    assert queued(n, "Follow") == [] and queued(n, "Undo") == []
    again = await call(
        n,
        "ownern",
        "POST",
        "/api/v1/associations/plain/networks",
        json={"network": "reseau@n.test"},
    )
    assert again.status_code == 201 and [x.status for x in members_of(n)] == ["pending"]
    refused = await call(n, "ownern", "POST", decide_path("refuse", member), json={})
    assert refused.status_code == 200 and links_of(n) == {"plain": "refused"}
    itself = await call(
        n,
        "ownern",
        "POST",
        "/api/v1/associations/reseau/networks",
        json={"network": "reseau@n.test"},
    )
    assert itself.status_code == 422


# -- pages ------------------------------------------------------------------------------------


async def test_pages_join_map_and_leave(pair: tuple[Instance, Instance]) -> None:
    m, n = pair
    category = add_action(m, "alpha")
    async with m.browser() as client:
        await log_in(client, user_of(m, "ownerm"))
        detail = await client.get("/associations/alpha")
        assert 'href="/associations/alpha/networks"' in detail.text
        page = await client.get("/associations/alpha/networks")
        assert page.status_code == 200 and "not in any network yet" in page.text
        token = csrf_from(page.text)
        bad = await client.post(
            "/associations/alpha/networks", data={"network": SCRIPT, "csrf_token": token}
        )
        assert bad.status_code == 422
        assert SCRIPT not in bad.text and "&lt;script&gt;" in bad.text
        assert 'aria-invalid="true"' in bad.text
        unknown = await client.post(
            "/associations/alpha/networks", data={"network": "x@nowhere.test", "csrf_token": token}
        )
        assert unknown.status_code == 422 and "No network was found" in unknown.text
        sent = await client.post(
            "/associations/alpha/networks",
            data={"network": "reseau@n.test", "anonymous": "on", "csrf_token": token},
        )
        assert sent.status_code == 303
        listed = await client.get("/associations/alpha/networks")
        assert "Réseau du Sud" in listed.text and "Waiting for the network" in listed.text
        assert "Listed anonymously" in listed.text
        with m.db.read() as session:
            link = session.exec(select(NetworkLink)).one()
        mapping_path = f"/associations/alpha/networks/mapping?network={link.id}"
        shown = await client.get(mapping_path)
        assert shown.status_code == 200 and f'name="category-{category}"' in shown.text
        wrong = await client.post(
            mapping_path, data={f"category-{category}": SCRIPT, "csrf_token": token}
        )
        assert wrong.status_code == 422 and SCRIPT not in wrong.text
        keys = (
            await call(
                m, "ownerm", "GET", "/api/v1/associations/alpha/networks/reseau@n.test/mapping"
            )
        ).json()
        chosen = keys["categories"][0]["key"]
        saved = await client.post(
            mapping_path, data={f"category-{category}": chosen, "csrf_token": token}
        )
        assert saved.status_code == 303
        with m.db.read() as session:
            stored = session.get(NetworkLink, link.id)
            assert stored is not None and network_links.mapping_of(stored) == {
                str(category): chosen
            }
        leave_path = f"/associations/alpha/networks/leave?network={link.id}"
        confirm = await client.get(leave_path)
        assert confirm.status_code == 200 and "Also delete the figures we sent" in confirm.text
        left = await client.post(leave_path, data={"erase": "on", "csrf_token": token})
        assert left.status_code == 303
        missing = "/associations/alpha/networks/leave?network=999"
        assert (await client.get(missing)).status_code == 404
        assert (await client.get("/associations/alpha/networks/leave?network=x")).status_code == 404
        chooser = await client.get("/associations/alpha/networks/mapping")
        assert chooser.status_code == 200 and f"mapping?network={link.id}" not in chooser.text
        chooser = await client.get("/associations/alpha/networks/leave")
        assert chooser.status_code == 200 and f"leave?network={link.id}" in chooser.text
    assert links_of(m) == {"alpha": "left"}
    assert queued(m, "Undo")[0]["erase"] is True
    await settle(m, n)
    assert [x.status for x in members_of(n)] == ["left"]


async def test_network_members_page_buttons_send_accept(pair: tuple[Instance, Instance]) -> None:
    m, n = pair
    assert (await ask(m)).status_code == 201
    await settle(m, n)
    [member] = members_of(n)
    async with n.browser() as client:
        await log_in(client, user_of(n, "ownern"))
        page = await client.get("/associations/reseau/network/members")
        assert "Alpha" in page.text
        token = csrf_from(page.text)
        done = await client.post(
            f"/associations/reseau/network/requests/{member.id}/accept", data={"csrf_token": token}
        )
        assert done.status_code == 303
    assert len(queued(n, "Accept")) == 1
    await settle(m, n)
    assert links_of(m) == {"alpha": "active"}


async def test_pages_refuse_non_managers(pair: tuple[Instance, Instance]) -> None:
    m, _n = pair
    volunteer = make_user(m.db, username="vol")
    make_membership(m.db, association_of(m, "alpha"), volunteer)
    async with m.browser() as client:
        assert (await client.get("/associations/alpha/networks")).status_code == 303
        await log_in(client, volunteer)
        assert (await client.get("/associations/alpha/networks")).status_code == 403
        detail = await client.get("/associations/alpha")
        assert "/associations/alpha/networks" not in detail.text


def test_erase_reports_marks_each_report_deleted(pair: tuple[Instance, Instance]) -> None:
    _m, n = pair
    network = association_of(n, "reseau")
    with n.db.write() as session:
        member = NetworkMember(
            network_id=network.id or 0,
            actor_uri="https://x.example/associations/a",
            status="active",
        )
        session.add(member)
    for month in ("2026-01", "2026-02"):
        add_report(n.db, network, member, month, minutes=5, volunteers=5, categories={"other": 5})
    with n.db.write() as session:
        row = session.get(NetworkMember, member.id)
        assert row is not None
        network_requests.member_left(session, row, erase=True)
        assert network_requests.erase_reports(session, row) == 0
    with n.db.read() as session:
        assert [r.deleted for r in session.exec(select(ReceivedReport))] == [True, True]
        assert session.get(NetworkMember, member.id).status == "left"  # type: ignore[union-attr]


def test_a_person_asking_to_be_a_member_is_rejected(pair: tuple[Instance, Instance]) -> None:
    _m, n = pair
    with n.db.write() as session:
        person = RemoteActor(
            uri="http://p.test/users/bob",
            host="p.test",
            type="Person",
            inbox="http://p.test/users/bob/inbox",
        )
        session.add(person)
        session.flush()
        local = documents.find_local_actor(session, n.config, "association", "reseau")
        activity = {
            "id": "http://p.test/follows/1",
            "type": "Follow",
            "actor": person.uri,
            "object": "http://n.test/associations/reseau",
            "networkMembership": True,
        }
        found = network_requests.receive_request(
            session, config=n.config, remote=person, local=local, activity=activity
        )
    assert found is None and members_of(n) == []
    [reject] = queued(n, "Reject")
    assert reject["object"]["id"] == "http://p.test/follows/1"


async def test_a_join_request_is_not_an_ordinary_follow_request(
    pair: tuple[Instance, Instance],
) -> None:
    m, n = pair
    assert (await ask(m)).status_code == 201
    await settle(m, n)
    [member] = members_of(n)
    network = association_of(n, "reseau")
    with n.db.read() as session:
        assert follows.follow_requests(session, kind="association", owner_id=network.id) == []
    owner = user_of(n, "ownern")
    with n.db.write() as session, pytest.raises(NotFound):
        follows.accept_follower(session, config=n.config, follow_id=member.follow_id, by=owner)
    assert [x.status for x in members_of(n)] == ["pending"]
