"""Links between a person's accounts on two real instances (in-process), through the API.

Instance A is the person's home (it asks), instance B holds their actions (it
accepts and later sends summaries). Every activity really crosses: A's worker
POSTs to B's inbox, signed, and B's worker processes it.
"""

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from federation import links
from instance import actions as action_domain
from schema.tables import (
    Association,
    Follow,
    OutboxActivity,
    ReceivedSummary,
    SentSummary,
    SummaryChange,
    User,
)
from schema.tables._base import utcnow
from schema.tables.actions import Category
from tests.factories import api_token, make_association, make_membership, make_user
from tests.federation_support import Instance, Router, make_instance

LINKS = "/api/v1/me/links"
REQUESTS = "/api/v1/me/link-requests"


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Instance, Instance]:
    """Home A (the test database) and B, each with alice (federation on) and an association."""
    router = Router()
    a = make_instance(tmp_path, "a", router, shared_db=True)
    b = make_instance(tmp_path, "b", router)
    for instance, slug in ((a, "alpha"), (b, "beta")):
        owner = make_user(instance.db, username=f"owner{slug}")
        make_association(instance.db, owner, name=f"Asso {slug}", slug=slug)
        make_user(instance.db, username="alice", display_name="Alice")
        set_federation(instance, "alice", True)
    return a, b


def set_federation(instance: Instance, username: str, enabled: bool) -> None:
    """Turn a person's federation on or off directly (no links to end)."""
    with instance.db.write() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        user.federation_enabled = enabled
        session.add(user)


def user_of(instance: Instance, username: str) -> User:
    with instance.db.read() as session:
        return session.exec(select(User).where(User.username == username)).one()


async def settle(*instances: Instance, rounds: int = 6) -> None:
    """Let every worker run until nothing is left to do."""
    for _round in range(rounds):
        done = 0
        for instance in instances:
            done += await instance.work()
        if not done:
            return


async def call(instance: Instance, username: str, method: str, path: str, **options: Any) -> Any:
    """One API call as the person."""
    async with instance.browser() as client:
        headers = await api_token(client, user_of(instance, username))
        headers.update(options.pop("headers", {}))
        return await client.request(method, path, headers=headers, **options)


async def ask(a: Instance, account: str = "alice@b.test", username: str = "alice") -> Any:
    return await call(a, username, "POST", LINKS, json={"account": account})


def rows(instance: Instance, direction: str) -> list[Follow]:
    with instance.db.read() as session:
        query = select(Follow).where(Follow.direction == direction, Follow.local_kind == "user")
        return list(session.exec(query))


def sent(instance: Instance, kind: str) -> list[dict[str, Any]]:
    """The activities of one type an instance queued."""
    with instance.db.read() as session:
        query = select(OutboxActivity).where(OutboxActivity.activity_type == kind)
        return [json.loads(row.body) for row in session.exec(query)]


async def linked(a: Instance, b: Instance) -> tuple[int, int]:
    """Alice links alice@b from A and accepts on B; (A's link id, B's request id)."""
    created = await ask(a)
    assert created.status_code == 201, created.text
    await settle(a, b)
    [incoming] = rows(b, "in")
    accepted = await call(b, "alice", "POST", f"{REQUESTS}/{incoming.id}/accept", json={})
    assert accepted.status_code == 200, accepted.text
    await settle(a, b)
    return created.json()["id"], int(incoming.id or 0)


def add_action(instance: Instance, slug: str, username: str, day: date) -> None:
    """An action of the person in the association (they join it first)."""
    with instance.db.write() as session:
        association = session.exec(select(Association).where(Association.slug == slug)).one()
        user = session.exec(select(User).where(User.username == username)).one()
        category = Category(association_id=association.id, name="Accueil")
        session.add(category)
        session.flush()
    make_membership(instance.db, association, user)
    with instance.db.write() as session:
        action_domain.create_action(
            session,
            association=association,
            user=user,
            data={"date": day.isoformat(), "minutes": 90, "category_id": category.id},
            today=day,
        )


async def test_link_asked_accepted_then_active_on_both(pair: Any) -> None:
    a, b = pair
    add_action(b, "beta", "alice", date(2024, 5, 2))
    created = await ask(a)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["account"] == "alice@b.test" and body["status"] == "pending"
    assert set(body) == {"id", "account", "status", "created", "updated"}
    await settle(a, b)
    listed = await call(b, "alice", "GET", REQUESTS)
    [request] = listed.json()["items"]
    assert request["from"] == "alice@a.test" and request["status"] == "pending"
    assert set(request) == {"id", "from", "status", "created"}
    with b.db.read() as session:
        assert list(session.exec(select(SummaryChange))) == []  # nothing before consent
    accepted = await call(b, "alice", "POST", f"{REQUESTS}/{request['id']}/accept", json={})
    assert accepted.status_code == 200
    assert accepted.json() == {**request, "status": "active"}
    with b.db.read() as session:
        [change] = session.exec(select(SummaryChange)).all()
    assert change.month == "2024-05"  # every month with actions is noted, to be sent
    await settle(a, b)
    mine = await call(a, "alice", "GET", LINKS)
    assert mine.json() == {
        "items": [{**body, "status": "active", "updated": mine.json()["items"][0]["updated"]}],
        "next": None,
    }
    again = await ask(a)  # idempotent: the same link, no second Follow
    assert again.status_code == 201 and again.json()["id"] == body["id"]
    assert again.json()["status"] == "active"
    assert len(sent(a, "Follow")) == 1
    twice = await call(b, "alice", "POST", f"{REQUESTS}/{request['id']}/accept", json={})
    assert twice.status_code == 200 and len(sent(b, "Accept")) == 1
    [follow] = sent(a, "Follow")
    assert follow["actor"] == "http://a.test/users/alice"
    assert follow["object"] == follow["to"][0] == "http://b.test/users/alice"


async def test_refused_then_asked_again(pair: Any) -> None:
    a, b = pair
    created = await ask(a)
    await settle(a, b)
    [incoming] = rows(b, "in")
    refused = await call(b, "alice", "POST", f"{REQUESTS}/{incoming.id}/refuse", json={})
    assert refused.status_code == 200 and refused.json()["status"] == "refused"
    late = await call(b, "alice", "POST", f"{REQUESTS}/{incoming.id}/accept", json={})
    assert late.status_code == 409 and late.headers["content-type"].startswith(
        "application/problem+json"
    )
    await settle(a, b)
    listed = await call(a, "alice", "GET", LINKS)
    assert [item["status"] for item in listed.json()["items"]] == ["refused"]
    renewed = await ask(a)  # after a refusal a new request is allowed
    assert renewed.json()["id"] == created.json()["id"]
    assert renewed.json()["status"] == "pending"
    await settle(a, b)
    assert [row.state for row in rows(b, "in")] == ["pending"]
    assert len(sent(a, "Follow")) == 2


async def test_end_from_home_with_erasure(pair: Any) -> None:
    a, b = pair
    link_id, request_id = await linked(a, b)
    alice_a, alice_b = user_of(a, "alice"), user_of(b, "alice")
    with b.db.write() as session:
        beta = session.exec(select(Association).where(Association.slug == "beta")).one()
        session.add(
            SentSummary(
                object_id="http://b.test/associations/beta/summaries/alice/2024-05",
                association_id=beta.id,
                user_id=alice_b.id,
                month="2024-05",
            )
        )
    with a.db.write() as session:
        for number, follow_id in ((1, link_id), (2, None)):
            session.add(
                ReceivedSummary(
                    object_id=f"http://b.test/associations/beta/summaries/alice/2024-0{number}",
                    user_id=alice_a.id,
                    follow_id=follow_id,
                    issuer_uri="http://b.test/associations/beta",
                    issuer_host="b.test",
                    subject_uri="http://b.test/users/alice",
                    month=f"2024-0{number}",
                    updated=utcnow(),
                    body="{}",
                )
            )
    bad = await call(a, "alice", "DELETE", f"{LINKS}/{link_id}?erase=maybe")
    assert bad.status_code == 422 and "erase" in bad.json()["errors"]
    ended = await call(a, "alice", "DELETE", f"{LINKS}/{link_id}?erase=true")
    assert ended.status_code == 204
    with a.db.read() as session:
        assert list(session.exec(select(ReceivedSummary))) == []
    [undo] = sent(a, "Undo")
    assert undo["benefed:erase"] is True
    assert {"benefed": "https://w3id.org/benefed/ns#"} in undo["@context"]
    await settle(a, b)
    assert [row.state for row in rows(b, "in")] == ["ended"]
    with b.db.read() as session:
        assert list(session.exec(select(SentSummary))) == []
    listed = await call(b, "alice", "GET", REQUESTS)
    assert listed.json()["items"][0] == {**listed.json()["items"][0], "id": request_id}
    assert listed.json()["items"][0]["status"] == "ended"
    mine = await call(a, "alice", "GET", LINKS)
    assert mine.json()["items"][0]["status"] == "ended"
    again = await call(a, "alice", "DELETE", f"{LINKS}/{link_id}")  # nothing more to do
    assert again.status_code == 204 and len(sent(a, "Undo")) == 1


async def test_end_from_home_without_erasure_keeps_what_was_sent(pair: Any) -> None:
    a, b = pair
    link_id, _request_id = await linked(a, b)
    alice_b = user_of(b, "alice")
    with b.db.write() as session:
        beta = session.exec(select(Association).where(Association.slug == "beta")).one()
        session.add(
            SentSummary(object_id="x", association_id=beta.id, user_id=alice_b.id, month="2024-05")
        )
    ended = await call(a, "alice", "DELETE", f"{LINKS}/{link_id}")
    assert ended.status_code == 204
    assert "benefed:erase" not in sent(a, "Undo")[0]
    await settle(a, b)
    assert [row.state for row in rows(b, "in")] == ["ended"]
    with b.db.read() as session:
        assert len(list(session.exec(select(SentSummary)))) == 1


async def test_end_from_the_other_side_is_ended_not_refused(pair: Any) -> None:
    a, b = pair
    _link_id, request_id = await linked(a, b)
    stopped = await call(b, "alice", "POST", f"{REQUESTS}/{request_id}/refuse", json={})
    assert stopped.status_code == 200 and stopped.json()["status"] == "ended"
    await settle(a, b)
    mine = await call(a, "alice", "GET", LINKS)
    assert mine.json()["items"][0]["status"] == "ended"
    assert len(sent(b, "Reject")) == 1


async def test_turning_federation_off_ends_links_on_either_side(pair: Any) -> None:
    a, b = pair
    await linked(a, b)
    with b.db.write() as session:
        links.set_federation(session, config=b.config, user=user_of(b, "alice"), enabled=False)
    await settle(a, b)
    assert [row.state for row in rows(a, "out")] == ["ended"]
    assert [row.state for row in rows(b, "in")] == ["ended"]
    assert not user_of(b, "alice").federation_enabled
    set_federation(b, "alice", True)
    await ask(a)
    await settle(a, b)
    [incoming] = rows(b, "in")
    assert incoming.state == "pending"
    await call(b, "alice", "POST", f"{REQUESTS}/{incoming.id}/accept", json={})
    await settle(a, b)
    with a.db.write() as session:
        links.set_federation(session, config=a.config, user=user_of(a, "alice"), enabled=False)
    await settle(a, b)
    assert [row.state for row in rows(b, "in")] == ["ended"]
    assert [row.state for row in rows(a, "out")] == ["ended"]


async def test_someone_elses_request_can_only_be_refused_and_exposes_nothing(pair: Any) -> None:
    a, b = pair
    add_action(b, "beta", "alice", date(2024, 5, 2))
    make_user(a.db, username="mallory")
    set_federation(a, "mallory", True)
    asked = await ask(a, username="mallory")
    assert asked.status_code == 201
    await settle(a, b)
    listed = await call(b, "alice", "GET", REQUESTS)
    [request] = listed.json()["items"]
    assert request["from"] == "mallory@a.test" and request["status"] == "pending"
    async with b.browser() as client:
        actor = await client.get("/users/alice", headers={"accept": "application/activity+json"})
        followers = await client.get("/users/alice/followers")
        outbox = await client.get("/users/alice/outbox")
    document = actor.json()
    assert document["type"] == "Person" and document["name"] == "Alice"
    for text in (actor.text, followers.text, outbox.text):
        assert "beta" not in text and "minutes" not in text and "Accueil" not in text
    assert followers.json()["totalItems"] == 0 and outbox.json()["totalItems"] == 0
    refused = await call(b, "alice", "POST", f"{REQUESTS}/{request['id']}/refuse", json={})
    assert refused.json()["status"] == "refused"
    await settle(a, b)
    mallory = await call(a, "mallory", "GET", LINKS)
    assert mallory.json()["items"][0]["status"] == "refused"
    with b.db.read() as session:
        assert list(session.exec(select(SummaryChange))) == []
    assert {row["type"] for row in sent(b, "Reject")} == {"Reject"}
    assert sent(b, "Accept") == [] and sent(b, "Create") == []


async def test_refusals_and_bad_input(pair: Any) -> None:
    a, b = pair
    async with a.browser() as client:
        anonymous = [
            await client.get(LINKS),
            await client.post(LINKS, json={"account": "alice@b.test"}),
            await client.delete(f"{LINKS}/1"),
            await client.get(REQUESTS),
            await client.post(f"{REQUESTS}/1/accept", json={}),
        ]
    assert {r.status_code for r in anonymous} == {401}
    cases = {
        "unknown": {"account": "nobody@b.test"},
        "no-server": {"account": "alice@nowhere.test"},
        "garbage": {"account": "<script>@@"},
        "empty": {"account": "  "},
        "long": {"account": "a" * 3000 + "@b.test"},
        "type": {"account": 5},
        "extra": {"account": "alice@b.test", "x": 1},
        "missing": {},
        "local": {"account": "owneralpha@a.test"},
        "self": {"account": "http://a.test/users/alice"},
        "organization": {"account": "beta@b.test"},
    }
    answers = {
        name: await call(a, "alice", "POST", LINKS, json=body) for name, body in cases.items()
    }
    assert {k: v.status_code for k, v in answers.items()} == dict.fromkeys(cases, 422)
    assert all(
        v.headers["content-type"].startswith("application/problem+json") for v in answers.values()
    )
    assert "account" in answers["unknown"].json()["errors"]
    assert "not a person" in answers["organization"].json()["errors"]["account"]
    assert "on this instance" in answers["local"].json()["errors"]["account"]
    not_json = await call(
        a, "alice", "POST", LINKS, content=b"{x", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    assert rows(a, "out") == []
    set_federation(a, "alice", False)
    off = await ask(a)
    assert off.status_code == 409 and "Federation is turned off" in off.json()["detail"]
    set_federation(a, "alice", True)
    set_federation(b, "alice", False)  # her handle there no longer resolves
    gone = await ask(a)
    assert gone.status_code == 422 and "federation" in gone.json()["errors"]["account"]


async def test_someone_elses_ids_are_404(pair: Any) -> None:
    a, b = pair
    link_id, request_id = await linked(a, b)
    make_user(a.db, username="bob")
    make_user(b.db, username="bob")
    for instance, method, path in (
        (a, "DELETE", f"{LINKS}/{link_id}"),
        (b, "POST", f"{REQUESTS}/{request_id}/accept"),
        (b, "POST", f"{REQUESTS}/{request_id}/refuse"),
        (b, "POST", f"{REQUESTS}/999999/accept"),
        (a, "DELETE", f"{LINKS}/999999"),
    ):
        answer = await call(instance, "bob", method, path, json={} if method == "POST" else None)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    # a link is not a request: ids of the other direction are 404 too
    wrong = await call(a, "alice", "POST", f"{REQUESTS}/{link_id}/accept", json={})
    assert wrong.status_code == 404
    wrong = await call(b, "alice", "DELETE", f"{LINKS}/{request_id}")
    assert wrong.status_code == 404
    body = await call(b, "alice", "POST", f"{REQUESTS}/{request_id}/accept", json={"x": 1})
    assert body.status_code == 422
    assert [row.state for row in rows(a, "out")] == ["accepted"]
    assert [row.state for row in rows(b, "in")] == ["accepted"]
    assert (await call(a, "bob", "GET", LINKS)).json() == {"items": [], "next": None}
    assert (await call(b, "bob", "GET", REQUESTS)).json() == {"items": [], "next": None}


async def test_pagination(pair: Any) -> None:
    a, b = pair
    for name in ("carol", "dave", "erin"):
        make_user(b.db, username=name)
        set_federation(b, name, True)
        assert (await ask(a, f"{name}@b.test")).status_code == 201
    first = await call(a, "alice", "GET", f"{LINKS}?limit=2")
    assert [i["account"] for i in first.json()["items"]] == ["carol@b.test", "dave@b.test"]
    cursor = first.json()["next"]
    second = await call(a, "alice", "GET", f"{LINKS}?limit=2&cursor={cursor}")
    assert [i["account"] for i in second.json()["items"]] == ["erin@b.test"]
    assert second.json()["next"] is None
    for query in ("limit=0", "limit=201", "limit=x", "cursor=%%%", "cursor=InN0cmluZyI"):
        answer = await call(a, "alice", "GET", f"{LINKS}?{query}")
        assert answer.status_code == 422, query
        answer = await call(a, "alice", "GET", f"{REQUESTS}?{query}")
        assert answer.status_code == 422, query


async def test_openapi_lists_the_link_routes(pair: Any) -> None:
    a, _b = pair
    async with a.browser() as client:
        document = (await client.get("/api/v1/openapi.json")).json()
    paths = document["paths"]
    assert set(paths[LINKS]) == {"get", "post"}
    assert "201" in paths[LINKS]["post"]["responses"]
    assert "204" in paths[LINKS + "/{link_id}"]["delete"]["responses"]
    assert "erase=true" in paths[LINKS + "/{link_id}"]["delete"]["description"]
    assert set(paths[REQUESTS]) == {"get"}
    for verb in ("accept", "refuse"):
        assert "200" in paths[f"{REQUESTS}/{{link_id}}/{verb}"]["post"]["responses"]
