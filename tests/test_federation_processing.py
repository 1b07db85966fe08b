"""Two Benefed instances in-process: follows, answers, notes, and every handler's idempotence."""

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from federation import follows, inbox, keys, notes, processing, remote_actors
from schema.tables import Association, Delivery, Follow, InboxItem, RemoteActor, User
from tests.factories import (
    api_token,
    log_in,
    make_association,
    make_membership,
    make_user,
    post_form,
)
from tests.federation_support import (
    FakeActor,
    FakeServer,
    Instance,
    Router,
    activity,
    cached_key,
    make_instance,
    post_signed,
    signed_headers,
)


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Instance, Instance]:
    """Instance A (the test database) and instance B, each with an association."""
    router = Router()
    a = make_instance(tmp_path, "a", router, shared_db=True)
    b = make_instance(tmp_path, "b", router)
    for instance, slug in ((a, "alpha"), (b, "beta")):
        owner = make_user(instance.db, username=f"owner{slug}")
        make_association(instance.db, owner, name=f"Asso {slug}", slug=slug)
    return a, b


async def settle(*instances: Instance, rounds: int = 6) -> None:
    """Let every worker run until nothing is left to do."""
    for _round in range(rounds):
        done = 0
        for instance in instances:
            done += await instance.work()
        if not done:
            return


def follow_rows(instance: Instance, direction: str) -> list[Follow]:
    with instance.db.read() as session:
        return list(session.exec(select(Follow).where(Follow.direction == direction)))


async def follow_beta(a: Instance, account: str = "beta@b.test") -> Any:
    owner = _user(a, "owneralpha")
    async with a.browser() as client:
        headers = await api_token(client, owner)
        return await client.post(
            "/api/v1/associations/alpha/following", json={"account": account}, headers=headers
        )


def _user(instance: Instance, username: str) -> User:
    with instance.db.read() as session:
        return session.exec(select(User).where(User.username == username)).one()


async def test_association_follows_another_across_instances(pair: Any) -> None:
    a, b = pair
    response = await follow_beta(a)
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "pending"
    assert response.json()["account"] == "beta@b.test"
    await settle(a, b)
    [outgoing] = follow_rows(a, "out")
    [incoming] = follow_rows(b, "in")
    assert (outgoing.state, incoming.state) == ("accepted", "accepted")
    assert incoming.follow_activity_id == outgoing.follow_activity_id
    with b.db.read() as session:
        beta = session.exec(select(Association).where(Association.slug == "beta")).one()
        assert notes.followers_count(session, beta) == 1
    again = await follow_beta(a)  # idempotent: the same follow, no second Follow sent
    assert again.status_code == 201 and again.json()["id"] == outgoing.id
    with a.db.read() as session:
        assert len(list(session.exec(select(Delivery)))) == 1


async def test_a_note_reaches_the_followers(pair: Any) -> None:
    a, b = pair
    await follow_beta(a)
    await settle(a, b)
    owner = _user(b, "ownerbeta")
    async with b.browser() as client:
        headers = await api_token(client, owner)
        response = await client.post(
            "/api/v1/associations/beta/notes",
            json={"content": "42 volunteers gave <b>312</b> hours"},
            headers=headers,
        )
        listed = await client.get("/api/v1/associations/beta/notes")
        page = await client.get("/associations/beta/notes")
    assert response.status_code == 201, response.text
    note = response.json()
    assert note["content"] == "42 volunteers gave <b>312</b> hours"
    assert note["url"] == f"http://b.test/associations/beta/notes/{note['id']}"
    assert listed.json() == {"items": [note], "next": None}
    assert "&lt;b&gt;312&lt;/b&gt;" in page.text and "<b>312" not in page.text
    await settle(a, b)
    with a.db.read() as session:
        item = session.exec(select(InboxItem).where(InboxItem.activity_type == "Create")).one()
    assert item.processed_at is not None and item.error == ""
    created = json.loads(item.body)
    assert created["object"]["id"] == note["url"]
    assert "https://www.w3.org/ns/activitystreams#Public" in created["to"]


async def test_approval_then_reject_and_undo(pair: Any) -> None:
    a, b = pair
    with b.db.write() as session:
        beta = session.exec(select(Association).where(Association.slug == "beta")).one()
        beta.approve_follows = True
        session.add(beta)
    await follow_beta(a)
    await settle(a, b)
    [incoming] = follow_rows(b, "in")
    assert incoming.state == "pending"
    assert follow_rows(a, "out")[0].state == "pending"
    stranger = make_user(b.db)
    with b.db.write() as session, pytest.raises(Exception, match="not allowed"):
        follows.accept_follower(session, config=b.config, follow_id=incoming.id, by=stranger)
    owner = _user(b, "ownerbeta")
    with b.db.write() as session:
        follows.accept_follower(session, config=b.config, follow_id=incoming.id, by=owner)
    await settle(a, b)
    assert follow_rows(a, "out")[0].state == "accepted"
    with b.db.write() as session:
        follows.reject_follower(session, config=b.config, follow_id=incoming.id, by=owner)
    await settle(a, b)
    assert follow_rows(a, "out")[0].state == "rejected"
    # Following again after a Reject, then Undo
    await follow_beta(a)
    await settle(a, b)
    with b.db.write() as session:
        follows.accept_follower(session, config=b.config, follow_id=incoming.id, by=owner)
    await settle(a, b)
    assert follow_rows(a, "out")[0].state == "accepted"
    with a.db.write() as session:
        alpha = session.exec(select(Association).where(Association.slug == "alpha")).one()
        remote = session.exec(select(RemoteActor)).one()
        follows.unfollow_remote(
            session, config=a.config, association=alpha, remote=remote, by=_user(a, "owneralpha")
        )
    await settle(a, b)
    assert follow_rows(b, "in")[0].state == "ended"
    assert follow_rows(a, "out")[0].state == "ended"


async def test_following_api_refusals(pair: Any) -> None:
    a, _b = pair
    volunteer = make_user(a.db)
    with a.db.read() as session:
        alpha = session.exec(select(Association).where(Association.slug == "alpha")).one()
    make_membership(a.db, alpha, volunteer)
    async with a.browser() as client:
        anonymous = await client.post(
            "/api/v1/associations/alpha/following", json={"account": "beta@b.test"}
        )
        headers = await api_token(client, volunteer)
        refused = await client.post(
            "/api/v1/associations/alpha/following", json={"account": "beta@b.test"}, headers=headers
        )
        owner_headers = await api_token(client, _user(a, "owneralpha"))
        cases = {}
        for name, body in {
            "unknown": {"account": "nobody@b.test"},
            "garbage": {"account": "<script>@@"},
            "empty": {"account": ""},
            "type": {"account": 5},
            "extra": {"account": "beta@b.test", "x": 1},
            "missing": {},
            "self": {"account": "alpha@a.test"},
        }.items():
            cases[name] = await client.post(
                "/api/v1/associations/alpha/following", json=body, headers=owner_headers
            )
        listed = await client.get("/api/v1/associations/alpha/following", headers=owner_headers)
    assert anonymous.status_code == 401
    assert refused.status_code == 403
    assert {k: v.status_code for k, v in cases.items()} == dict.fromkeys(cases, 422)
    assert listed.json() == {"items": [], "next": None}


# -- handlers, one by one, against a fake remote server -------------------------------


@pytest.fixture
def lone(tmp_path: Path) -> tuple[Instance, FakeServer]:
    router = Router()
    ours = make_instance(tmp_path, "a", router, shared_db=True)
    remote = FakeServer("remote.test")
    router.add("remote.test", remote.transport())
    remote.actor("bob")
    owner = make_user(ours.db, username="owner")
    make_association(ours.db, owner, name="Amis", slug="amis")
    return ours, remote


async def deliver(ours: Instance, remote: FakeServer, body: dict[str, Any]) -> None:
    async with ours.browser() as client:
        response = await post_signed(client, "/inbox", remote.actors["bob"], body)
    assert response.status_code == 202, response.text


async def test_follow_replayed_is_accepted_once(lone: Any) -> None:
    ours, remote = lone
    bob = remote.actors["bob"]
    follow = activity(bob, "Follow", "http://a.test/associations/amis")
    for _time in range(3):
        await deliver(ours, remote, follow)
        await settle(ours)
    accepts = remote.activities("Accept")
    assert len(accepts) == 1
    assert accepts[0]["object"]["id"] == follow["id"]
    assert accepts[0]["actor"] == "http://a.test/associations/amis"
    # A new Follow (new id) after the first: answered again, still one follower row
    await deliver(
        ours, remote, activity(bob, "Follow", "http://a.test/associations/amis", number=2)
    )
    await settle(ours)
    assert len(remote.activities("Accept")) == 2
    assert len(follow_rows(ours, "in")) == 1


async def test_undo_by_embedded_follow_without_id(lone: Any) -> None:
    ours, remote = lone
    bob = remote.actors["bob"]
    await deliver(ours, remote, activity(bob, "Follow", "http://a.test/associations/amis"))
    await settle(ours)
    embedded = {"type": "Follow", "actor": bob.uri, "object": "http://a.test/associations/amis"}
    await deliver(ours, remote, activity(bob, "Undo", embedded))
    await settle(ours)
    assert follow_rows(ours, "in")[0].state == "ended"


async def test_delete_of_the_actor_ends_its_follows(lone: Any) -> None:
    ours, remote = lone
    bob = remote.actors["bob"]
    await deliver(ours, remote, activity(bob, "Follow", "http://a.test/associations/amis"))
    await deliver(ours, remote, activity(bob, "Delete", "http://remote.test/notes/1"))
    await settle(ours)
    assert follow_rows(ours, "in")[0].state == "accepted"  # deleting a note changes nothing
    await deliver(ours, remote, activity(bob, "Delete", bob.uri, number=2))
    await settle(ours)
    assert follow_rows(ours, "in")[0].state == "ended"
    with ours.db.read() as session:
        assert session.exec(select(RemoteActor)).one().is_gone


async def test_update_of_the_actor_refreshes_its_key(lone: Any) -> None:
    ours, remote = lone
    bob = remote.actors["bob"]
    await deliver(ours, remote, activity(bob, "Follow", "http://a.test/associations/amis"))
    await settle(ours)
    old_key = bob.key
    bob.key = cached_key(3)
    update = activity(bob, "Update", bob.document())
    async with ours.browser() as client:  # signed with the old key, still valid
        response = await post_signed(client, "/inbox", bob, update, key=old_key)
    assert response.status_code == 202
    await settle(ours)
    with ours.db.read() as session:
        cached = session.exec(select(RemoteActor)).one()
    assert "publicKeyPem" in bob.document()["publicKey"]
    assert cached.public_key_pem == bob.document()["publicKey"]["publicKeyPem"]


@pytest.mark.parametrize("kind", ["Create", "Like", "Announce", "Flag", "Move", "Benefed:Custom"])
async def test_other_types_are_stored_and_ignored(lone: Any, kind: str) -> None:
    ours, remote = lone
    bob = remote.actors["bob"]
    await deliver(ours, remote, activity(bob, kind, {"type": "Note", "content": "hi"}))
    await settle(ours)
    with ours.db.read() as session:
        item = session.exec(select(InboxItem)).one()
    assert item.processed_at is not None and item.error == ""
    assert follow_rows(ours, "in") == []


async def test_accept_of_an_unknown_follow_is_ignored(lone: Any) -> None:
    ours, remote = lone
    bob = remote.actors["bob"]
    with ours.db.write() as session:
        actor = session.exec(select(RemoteActor)).first()
    assert actor is None
    await deliver(ours, remote, activity(bob, "Accept", "http://a.test/activities/unknown"))
    await settle(ours)
    assert follow_rows(ours, "out") == []


async def test_a_failing_handler_is_retried_then_left_with_its_error(
    lone: Any, monkeypatch: Any
) -> None:
    ours, remote = lone
    bob = remote.actors["bob"]

    def broken(*_args: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setitem(processing.HANDLERS, "Like", broken)
    await deliver(ours, remote, activity(bob, "Like", "http://a.test/x"))
    for _round in range(processing.MAX_ATTEMPTS + 2):
        await ours.work()
    with ours.db.read() as session:
        item = session.exec(select(InboxItem)).one()
    assert item.attempts == processing.MAX_ATTEMPTS
    assert item.processed_at is not None and "boom" in item.error


# -- notes: the form and the API's refusals ------------------------------------------


async def test_note_form_and_validation(pair: Any) -> None:
    _a, b = pair
    owner = _user(b, "ownerbeta")
    async with b.browser() as client:
        await log_in(client, owner)
        form = await client.get("/associations/beta/notes/new")
        assert form.status_code == 200 and 'maxlength="500"' in form.text
        empty = await post_form(client, "/associations/beta/notes/new", {"content": "  "})
        long = await post_form(client, "/associations/beta/notes/new", {"content": "x" * 501})
        good = await post_form(
            client, "/associations/beta/notes/new", {"content": "Hello <script>alert(1)</script>"}
        )
        listing = await client.get("/associations/beta/notes")
        api = await client.get("/api/v1/associations/beta/notes")
        note_id = api.json()["items"][0]["id"]
        shown = await client.get(f"/associations/beta/notes/{note_id}")
        missing = await client.get("/associations/beta/notes/999999")
    assert empty.status_code == 422 and "Write the text" in empty.text
    assert long.status_code == 422 and "500" in long.text
    assert good.status_code == 303
    for page in (listing, shown):
        assert "&lt;script&gt;" in page.text and "<script>alert" not in page.text
    assert missing.status_code == 404


async def test_note_api_refusals(pair: Any) -> None:
    _a, b = pair
    volunteer = make_user(b.db)
    with b.db.read() as session:
        beta = session.exec(select(Association).where(Association.slug == "beta")).one()
    make_membership(b.db, beta, volunteer)
    async with b.browser() as client:
        anonymous = await client.post("/api/v1/associations/beta/notes", json={"content": "x"})
        headers = await api_token(client, volunteer)
        forbidden = await client.post(
            "/api/v1/associations/beta/notes", json={"content": "x"}, headers=headers
        )
        owner = await api_token(client, _user(b, "ownerbeta"))
        bad = {}
        for name, body in {
            "empty": {"content": ""},
            "long": {"content": "é" * 501},
            "type": {"content": ["x"]},
            "missing": {},
            "extra": {"content": "x", "y": 2},
        }.items():
            bad[name] = await client.post(
                "/api/v1/associations/beta/notes", json=body, headers=owner
            )
        unknown = await client.post(
            "/api/v1/associations/nope/notes", json={"content": "x"}, headers=owner
        )
        limit = await client.get("/api/v1/associations/beta/notes?limit=0")
        cursor = await client.get("/api/v1/associations/beta/notes?cursor=%%%")
        exact = await client.post(
            "/api/v1/associations/beta/notes", json={"content": "é" * 500}, headers=owner
        )
    assert anonymous.status_code == 401
    assert forbidden.status_code == 403
    assert {k: v.status_code for k, v in bad.items()} == dict.fromkeys(bad, 422)
    assert unknown.status_code == 404
    assert (limit.status_code, cursor.status_code) == (422, 422)
    assert exact.status_code == 201


async def test_notes_pagination(pair: Any) -> None:
    _a, b = pair
    owner = _user(b, "ownerbeta")
    with b.db.write() as session:
        beta = session.exec(select(Association).where(Association.slug == "beta")).one()
        for number in range(5):
            notes.publish_note(
                session, config=b.config, association=beta, by=owner, content=f"n{number}"
            )
    async with b.browser() as client:
        first = (await client.get("/api/v1/associations/beta/notes?limit=2")).json()
        second = (
            await client.get(f"/api/v1/associations/beta/notes?limit=2&cursor={first['next']}")
        ).json()
    assert [n["content"] for n in first["items"]] == ["n4", "n3"]
    assert [n["content"] for n in second["items"]] == ["n2", "n1"]


# -- captured payloads of other servers (tests/data) ------------------------------------

DATA = Path(__file__).parent / "data"
TARGET = "http://a.test/associations/amis"


def payload(name: str, **values: str) -> dict[str, Any]:
    text = (DATA / f"{name}.json").read_text()
    for key, value in {"target": TARGET, **values}.items():
        text = text.replace("{" + key + "}", value.replace("\n", "\\n"))
    return dict(json.loads(text))


@pytest.fixture
def servers(lone: Any) -> tuple[Instance, dict[str, FakeActor]]:
    ours, _remote = lone
    actors = {}
    for host, uri, key_id, kind in (
        (
            "mastodon.example",
            "https://mastodon.example/users/alice",
            "https://mastodon.example/users/alice#main-key",
            "Person",
        ),
        (
            "gts.example",
            "https://gts.example/users/bob",
            "https://gts.example/users/bob/main-key",
            "Person",
        ),
        (
            "mobilizon.example",
            "https://mobilizon.example/@club_velo",
            "https://mobilizon.example/@club_velo#main-key",
            "Group",
        ),
    ):
        server = FakeServer(host)
        ours.router.add(host, server.transport())
        actors[host] = server.add(uri, key_id=key_id, kind=kind)
        actors[host + ":server"] = server  # type: ignore[assignment]
    return ours, actors


async def post_payload(
    ours: Instance, actor: FakeActor, body: dict[str, Any], *, hs2019: bool = False
) -> int:
    raw = json.dumps(body).encode()
    headers = signed_headers(actor, f"{ours.url}/inbox", raw)
    if hs2019:  # what GoToSocial and Mastodon may send: the same RSA-SHA256 signature
        headers["Signature"] = headers["Signature"].replace(
            'algorithm="rsa-sha256"', 'algorithm="hs2019"'
        )
    async with ours.browser() as client:
        return (await client.post("/inbox", content=raw, headers=headers)).status_code


def test_every_captured_payload_parses() -> None:
    names = sorted(p.stem for p in DATA.glob("*.json"))
    assert len(names) >= 10
    for name in names:
        body = payload(name, follow_id="http://a.test/activities/1", public_key_pem="x")
        assert inbox.parse_activity(json.dumps(body).encode())["id"] == body["id"]


async def test_mastodon_follow_undo_update_create_delete(servers: Any) -> None:
    ours, actors = servers
    alice = actors["mastodon.example"]
    server = actors["mastodon.example:server"]
    assert await post_payload(ours, alice, payload("mastodon_follow"), hs2019=True) == 202
    await settle(ours)
    [accept] = server.activities("Accept")
    assert accept["object"]["id"] == payload("mastodon_follow")["id"]
    assert accept["object"]["actor"] == alice.uri and accept["actor"] == TARGET
    assert follow_rows(ours, "in")[0].state == "accepted"
    assert await post_payload(ours, alice, payload("mastodon_create_note")) == 202
    alice.key = cached_key(4)
    update = payload("mastodon_update_person", public_key_pem=keys.rsa_public_pem(alice.key))
    assert await post_payload(ours, alice, update) == 202  # signed with the new key: refetched
    assert await post_payload(ours, alice, payload("mastodon_undo_follow")) == 202
    await settle(ours)
    assert follow_rows(ours, "in")[0].state == "ended"
    assert await post_payload(ours, alice, payload("mastodon_delete_actor")) == 202
    await settle(ours)
    with ours.db.read() as session:
        cached = session.exec(select(RemoteActor).where(RemoteActor.uri == alice.uri)).one()
        items = list(session.exec(select(InboxItem)))
    assert cached.is_gone and cached.public_key_pem == keys.rsa_public_pem(alice.key)
    assert len(items) == 5 and all(i.processed_at and not i.error for i in items)


async def test_gotosocial_key_without_fragment(servers: Any) -> None:
    ours, actors = servers
    bob = actors["gts.example"]
    assert await post_payload(ours, bob, payload("gotosocial_follow"), hs2019=True) == 202
    await settle(ours)
    assert follow_rows(ours, "in")[0].state == "accepted"
    assert await post_payload(ours, bob, payload("gotosocial_undo_follow")) == 202
    await settle(ours)
    assert follow_rows(ours, "in")[0].state == "ended"


async def test_mobilizon_group_follows_and_other_accepts_are_ignored(servers: Any) -> None:
    ours, actors = servers
    club = actors["mobilizon.example"]
    assert await post_payload(ours, club, payload("mobilizon_follow")) == 202
    assert await post_payload(ours, club, payload("mobilizon_accept_join")) == 202
    await settle(ours)
    assert [f.state for f in follow_rows(ours, "in")] == ["accepted"]
    assert follow_rows(ours, "out") == []
    assert actors["mobilizon.example:server"].activities("Accept")[0]["object"]["actor"] == club.uri


async def test_mastodon_accept_of_our_follow(servers: Any) -> None:
    ours, actors = servers
    alice = actors["mastodon.example"]
    owner = _user(ours, "owner")
    async with ours.client() as client:
        remote = await remote_actors.fetch_actor(ours.db, client, ours.config, alice.uri)
    with ours.db.write() as session:
        amis = session.exec(select(Association).where(Association.slug == "amis")).one()
        follow = follows.follow_remote(
            session,
            config=ours.config,
            association=amis,
            remote=session.get(RemoteActor, remote.id),
            by=owner,
        )
    await settle(ours)
    assert (
        actors["mastodon.example:server"].activities("Follow")[0]["id"] == follow.follow_activity_id
    )
    accept = payload("mastodon_accept", follow_id=follow.follow_activity_id)
    assert await post_payload(ours, alice, accept) == 202
    await settle(ours)
    assert follow_rows(ours, "out")[0].state == "accepted"
