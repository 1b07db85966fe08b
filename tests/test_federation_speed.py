"""What makes the inbox and the fan-out fast must not cost correctness.

The inbox reads blocks and the cached key in one query each and stores
concurrent requests in one transaction (group commit); the worker records
delivery results in batches, leases each job for its wait behind the same host,
and keeps one small connection pool per peer.
"""

import asyncio
import dataclasses
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select

from federation import (
    blocks,
    delivery,
    delivery_policy,
    delivery_queue,
    inbox,
    keys,
    outbox,
    peers,
    safe_http,
    signed_requests,
    verification,
)
from schema.tables import Delivery, InboxItem, PeerHost, RemoteActor
from schema.tables._base import utcnow
from tests.factories import make_association, make_user
from tests.federation_support import (
    FakeServer,
    Instance,
    Router,
    activity,
    cached_key,
    make_instance,
    post_signed,
    signed_headers,
)

T0 = datetime(2020, 1, 1, 12, 0, tzinfo=UTC)
INBOX = "/associations/amis/inbox"


@pytest.fixture
def world(tmp_path: Path) -> tuple[Instance, FakeServer, int]:
    """Our instance (the test database), a remote server with bob, and the association's id."""
    router = Router()
    ours = make_instance(tmp_path, "a", router, shared_db=True)
    remote = FakeServer("remote.test")
    router.add("remote.test", remote.transport())
    remote.actor("bob")
    owner = make_user(ours.db, username="owner")
    association = make_association(ours.db, owner, name="Les Amis", slug="amis")
    assert association.id is not None
    return ours, remote, association.id


def stored(instance: Instance) -> int:
    with instance.db.read() as session:
        return int(session.exec(select(func.count()).select_from(InboxItem)).one())


def fetches(instance: Instance) -> int:
    return sum(1 for request in instance.router.log if request.method == "GET")


# -- blocks: one query answers like blocks.is_blocked ------------------------------

BLOCKS = ["remote.test", "test", "evil.example.org:8443", "example.net", "[::1]"]
HOSTS = [
    "remote.test",
    "sub.remote.test",
    "remote.test:8080",
    "notremote.test",
    "evil.example.org:8443",
    "evil.example.org",
    "evil.example.org:9999",
    "example.net",
    "a.b.example.net:443",
    "example.network",
    "[::1]:8000",
    "[::2]",
    "127.0.0.1:3000",
]


def _blocked_before(session: Any, key_id: str, actor_uri: str) -> bool:
    """What the inbox answered before (two calls of blocks.is_blocked)."""
    return blocks.is_blocked(
        session, host=blocks.host_of(key_id), actor_uri=actor_uri
    ) or blocks.is_blocked(session, actor_uri=key_id.partition("#")[0])


@pytest.mark.parametrize("block", BLOCKS)
def test_one_block_query_answers_like_is_blocked(world: Any, block: str) -> None:
    ours, _remote, _asso = world
    with ours.db.write() as session:
        blocks.add_block(session, domain=block)
        blocks.add_block(session, actor_uri="http://other.invalid/users/mallory")
    with ours.db.read() as session:
        for key_host, actor_host in itertools.product(HOSTS, HOSTS[:4]):
            key_id = f"http://{key_host}/users/x#main-key"
            actor = f"http://{actor_host}/users/x"
            expected = _blocked_before(session, key_id, actor)
            assert blocks.blocked(session, key_id, actor) is expected, (key_id, actor)
        mallory = "http://other.invalid/users/mallory"
        assert blocks.blocked(session, mallory + "#main-key", mallory)
        assert not blocks.blocked(session, "http://other.invalid/users/bob#k", mallory + "x")


def test_candidate_domains_cover_the_parents_and_the_port() -> None:
    assert blocks.candidate_domains("a.b.example.org:8443") == {
        "a.b.example.org:8443",
        "a.b.example.org",
        "b.example.org",
        "example.org",
        "org",
    }
    assert blocks.candidate_domains("[::1]:8000") == {"[::1]:8000", "[::1]"}
    assert blocks.candidate_domains("") == set()


# -- the cached key ----------------------------------------------------------------


async def test_known_sender_is_verified_without_any_fetch(world: Any) -> None:
    ours, remote, _asso = world
    bob = remote.actors["bob"]
    async with ours.browser() as client:
        first = await post_signed(client, INBOX, bob, activity(bob, "Like", "x", number=0))
        assert first.status_code == 202
        before = fetches(ours)
        for number in range(1, 6):
            body = activity(bob, "Like", "x", number=number)
            assert (await post_signed(client, "/inbox", bob, body)).status_code == 202
    assert fetches(ours) == before  # every key came from the cached RemoteActor row
    assert stored(ours) == 6


async def test_old_key_is_refused_once_the_row_holds_the_new_one(world: Any) -> None:
    ours, remote, _asso = world
    bob = remote.actors["bob"]
    old = bob.key
    async with ours.browser() as client:
        assert (
            await post_signed(client, INBOX, bob, activity(bob, "Like", "x", number=1))
        ).status_code == 202
        # bob rotates and we learn it (an Update processed, or a refetch elsewhere).
        bob.key = cached_key(2)
        with ours.db.write() as session:
            row = session.exec(select(RemoteActor).where(RemoteActor.uri == bob.uri)).one()
            row.public_key_pem = keys.rsa_public_pem(cached_key(2))
            session.add(row)
        stale = await post_signed(client, INBOX, bob, activity(bob, "Like", "x", number=2), key=old)
        fresh = await post_signed(client, INBOX, bob, activity(bob, "Like", "x", number=3))
    assert stale.status_code == 401  # the parsed old key is not reused from memory
    assert fresh.status_code == 202
    assert stored(ours) == 2


async def test_expired_cache_row_is_fetched_again(world: Any) -> None:
    ours, remote, _asso = world
    bob = remote.actors["bob"]
    async with ours.browser() as client:
        await post_signed(client, INBOX, bob, activity(bob, "Like", "x", number=1))
        with ours.db.write() as session:
            row = session.exec(select(RemoteActor).where(RemoteActor.uri == bob.uri)).one()
            row.expires_at = utcnow() - timedelta(seconds=1)
            session.add(row)
        before = fetches(ours)
        response = await post_signed(client, INBOX, bob, activity(bob, "Like", "x", number=2))
    assert response.status_code == 202
    assert fetches(ours) == before + 1


async def test_requests_screened_together_get_their_own_answers(world: Any) -> None:
    ours, remote, _asso = world
    bob, carol = remote.actors["bob"], remote.actor("carol", key_index=1)
    mallory = remote.actor("mallory")
    with ours.db.write() as session:
        blocks.add_block(session, actor_uri=mallory.uri)
    async with ours.browser() as client:  # bob's key is cached, carol's is not
        await post_signed(client, INBOX, bob, activity(bob, "Like", "x", number=0))

    def item(actor: Any, number: int, *, tamper: bool = False) -> verification.Screening:
        body = json.dumps(activity(actor, "Like", "x", number=number)).encode()
        headers = signed_headers(actor, "http://a.test/inbox", body)
        sent = body + b" " if tamper else body
        request = signed_requests.IncomingRequest("POST", "/inbox", headers, sent, scheme="http")
        return verification.Screening(request, actor.key_id, actor.uri, utcnow(), 3600)

    items = [item(bob, 1), item(carol, 2), item(mallory, 3), item(bob, 4, tamper=True)]
    answers = verification.screen_many(ours.db, items)
    assert answers[:2] == [verification.VERIFIED, verification.NO_KEY]
    assert isinstance(answers[2], signed_requests.Refused) and answers[2].status == 403
    assert isinstance(answers[3], signed_requests.Refused) and answers[3].status == 401


async def test_tampered_requests_among_good_ones_are_refused(world: Any) -> None:
    ours, remote, _asso = world
    bob = remote.actors["bob"]
    async with ours.browser() as client:
        await post_signed(client, INBOX, bob, activity(bob, "Like", "x", number=0))

        async def send(number: int) -> int:
            body = json.dumps(activity(bob, "Like", "x", number=number)).encode()
            headers = signed_headers(bob, "http://a.test/inbox", body)
            sent = body.replace(b"Like", b"Flag") if number % 2 else body
            return (await client.post("/inbox", content=sent, headers=headers)).status_code

        answers = await asyncio.gather(*(send(n) for n in range(1, 21)))
    assert answers == [401 if n % 2 else 202 for n in range(1, 21)]
    assert stored(ours) == 11


async def test_owners_looked_up_together_keep_their_answers(world: Any) -> None:
    ours, remote, _asso = world
    bob = remote.actors["bob"]
    paths = [INBOX, "/associations/nobody/inbox", "/users/owner/inbox", "/inbox"] * 4
    async with ours.browser() as client:
        await post_signed(client, INBOX, bob, activity(bob, "Like", "x", number=0))
        answers = await asyncio.gather(
            *(
                post_signed(client, path, bob, activity(bob, "Like", "x", number=n))
                for n, path in enumerate(paths, start=1)
            )
        )
    expected = {INBOX: 202, "/associations/nobody/inbox": 404, "/users/owner/inbox": 404}
    assert [a.status_code for a in answers] == [expected.get(p, 202) for p in paths]
    with ours.db.read() as session:
        kinds = [item.recipient_kind for item in session.exec(select(InboxItem))]
    assert sorted(kinds) == ["association"] * 5 + ["shared"] * 4


# -- group commit of the inbox -------------------------------------------------------


def _values(number: int, **changes: Any) -> dict[str, Any]:
    item = activity_dict(number)
    values = {
        "activity_id": item["id"],
        "activity_type": "Like",
        "actor_uri": item["actor"],
        "recipient_kind": "shared",
        "recipient_id": None,
        "body": "{}",
        "received_at": utcnow(),
        "processed_at": None,
        "attempts": 0,
        "error": "",
    }
    return {**values, **changes}


def activity_dict(number: int) -> dict[str, Any]:
    return {"id": f"http://remote.test/activities/{number}", "actor": "http://remote.test/u/b"}


async def test_concurrent_stores_keep_each_activity_once(world: Any) -> None:
    ours, _remote, _asso = world
    batcher = inbox.storer(ours.db)
    rows = [_values(number % 7) for number in range(40)]
    results = await asyncio.gather(*(batcher.submit(values) for values in rows))
    assert sum(results) == 7  # one "new" per distinct id, the others are replays
    assert stored(ours) == 7
    assert await batcher.submit(_values(3)) is False


async def test_one_failing_row_fails_only_its_own_request(world: Any) -> None:
    ours, _remote, _asso = world
    batcher = inbox.storer(ours.db)
    rows = [_values(1), _values(2, body=None), _values(3)]  # body is NOT NULL
    results = await asyncio.gather(*(batcher.submit(v) for v in rows), return_exceptions=True)
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], Exception)
    assert stored(ours) == 2


async def test_signed_requests_in_parallel_are_all_stored_once(world: Any) -> None:
    ours, remote, _asso = world
    bob = remote.actors["bob"]
    bodies = [activity(bob, "Like", "x", number=n % 10) for n in range(30)]
    async with ours.browser() as client:
        await post_signed(client, INBOX, bob, activity(bob, "Like", "x", number=99))
        answers = await asyncio.gather(*(post_signed(client, "/inbox", bob, b) for b in bodies))
    assert {answer.status_code for answer in answers} == {202}
    assert stored(ours) == 11


# -- delivery: batched results, leases, pools ----------------------------------------


def queue(ours: Instance, asso: int, inboxes: list[str], number: int = 1) -> None:
    body = {
        "id": f"http://a.test/activities/{number}",
        "type": "Create",
        "actor": "http://a.test/associations/amis",
        "object": {"id": f"http://a.test/associations/amis/notes/{number}", "type": "Note"},
    }
    with ours.db.write() as session:
        outbox.publish(
            session,
            config=ours.config,
            actor_kind="association",
            actor_id=asso,
            activity=body,
            inboxes=inboxes,
            now=T0,
        )


def deliveries(ours: Instance) -> list[Delivery]:
    with ours.db.read() as session:
        return list(session.exec(select(Delivery).order_by(Delivery.id)))


async def test_fan_out_is_recorded_in_few_transactions(world: Any, monkeypatch: Any) -> None:
    ours, remote, asso = world
    queue(ours, asso, [f"http://remote.test/users/{n}/inbox" for n in range(30)])
    batches: list[int] = []
    record = delivery._record

    def counting(db: Any, results: list[Any], now: datetime) -> None:
        batches.append(len(results))
        record(db, results, now)

    monkeypatch.setattr(delivery, "_record", counting)
    async with ours.client() as client:
        sent = await delivery.run_once(ours.db, client, ours.config, now=T0, worker_id="w")
    assert sent == 30 and sum(batches) == 30 and len(batches) < 30
    assert [row.state for row in deliveries(ours)] == ["sent"] * 30
    assert len(remote.received) == 30


def test_a_batch_of_results_reads_like_one_by_one(world: Any) -> None:
    ours, _remote, asso = world
    queue(ours, asso, [f"http://remote.test/users/{n}/inbox" for n in range(3)])
    first, second, third = (row.id for row in deliveries(ours))
    results = [
        (first, delivery_queue.Outcome(status=None, error="ConnectError")),
        (second, delivery_queue.Outcome(status=202, scheme="rfc9421")),
        (third, delivery_queue.Outcome(status=503)),
        (987654, delivery_queue.Outcome(status=202)),  # unknown: left alone, the rest recorded
    ]
    with ours.db.write() as session:
        done = delivery_queue.record_many(session, results, now=T0)
    assert len(done) == 3
    states = [(row.state, row.attempts, row.last_status) for row in deliveries(ours)]
    assert states == [("retrying", 1, None), ("sent", 1, 202), ("retrying", 1, 503)]
    with ours.db.read() as session:
        peer = session.get(PeerHost, "remote.test")
    assert peer is not None
    assert (peer.consecutive_failures, peer.signature_scheme) == (1, "rfc9421")
    with ours.db.write() as session, pytest.raises(delivery_policy.InvalidTransition):
        delivery_queue.record(
            session, delivery_id=second, outcome=delivery_queue.Outcome(202), now=T0
        )


def test_leases_cover_the_wait_behind_the_same_host(world: Any) -> None:
    ours, _remote, asso = world
    per_host = ours.config.federation.per_host_concurrency
    count = 2 * per_host + 1
    queue(ours, asso, [f"http://remote.test/users/{n}/inbox" for n in range(count)])
    queue(ours, asso, ["http://other.test/inbox"], number=2)
    with ours.db.write() as session:
        claimed = delivery_queue.claim_due(
            session, now=T0, limit=50, worker_id="w", config=ours.config
        )
    base, turn = delivery_policy.lease(ours.config), 2 * delivery_policy.attempt_time(ours.config)
    leases = {row.inbox_url: row.locked_until for row in claimed}
    assert leases["http://other.test/inbox"] == T0 + base
    remote = [leases[f"http://remote.test/users/{n}/inbox"] for n in range(count)]
    assert remote == [T0 + base + turn * (n // per_host) for n in range(count)]
    assert base >= 2 * delivery_policy.attempt_time(ours.config) + timedelta(seconds=30)


async def test_job_whose_lease_runs_out_is_not_sent(world: Any, monkeypatch: Any) -> None:
    ours, remote, asso = world
    queue(ours, asso, ["http://remote.test/inbox"])
    claim = delivery._claim_jobs

    def short_leases(*args: Any) -> list[delivery_queue.Job]:
        jobs = claim(*args)
        return [dataclasses.replace(job, lease_seconds=1.0) for job in jobs]

    monkeypatch.setattr(delivery, "_claim_jobs", short_leases)
    async with ours.client() as client:
        await delivery.run_once(ours.db, client, ours.config, now=T0, worker_id="w")
    assert not remote.received
    [row] = deliveries(ours)
    assert (row.state, row.attempts) == ("pending", 0)  # claimed again once the lease ends


async def _server(connections: list[int]) -> asyncio.Server:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)


async def test_one_keep_alive_pool_per_peer(world: Any) -> None:
    ours, _remote, _asso = world
    connections: list[int] = []
    servers = [await _server(connections) for _ in range(3)]
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    transport = peers.PerHostTransport(per_host=2, keepalive=30, max_hosts=2)
    try:
        async with safe_http.make_client(ours.config, transport=transport) as client:
            for _round in range(5):
                for port in ports[:2]:
                    response = await client.post(f"http://127.0.0.1:{port}/inbox", content=b"{}")
                    assert (response.status_code, response.text) == (202, "ok")
            assert len(connections) == 2  # kept alive: one connection per peer
            assert len(transport.pools) == 2 and not transport.busy
            await client.post(f"http://127.0.0.1:{ports[2]}/inbox", content=b"{}")
            assert len(transport.pools) == 2  # the least recently used idle pool was closed
            assert ("http", "127.0.0.1", ports[0], None) not in transport.pools
            async with client.stream("POST", f"http://127.0.0.1:{ports[1]}/x", content=b"{}"):
                assert transport.busy  # in use until the body is closed
            assert not transport.busy
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()
    assert not transport.pools


async def test_worker_client_pools_per_peer(world: Any) -> None:
    ours, _remote, _asso = world
    async with delivery.make_client(ours.config) as client:
        guarded = client._transport
        assert isinstance(guarded, safe_http.GuardedTransport)
        assert isinstance(guarded.inner, peers.PerHostTransport)
        assert guarded.allow_private is ours.config.federation.allow_private
