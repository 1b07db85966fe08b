"""The delivery queue with an injected clock: states, backoff, expiry, dead hosts, leases."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from federation import blocks, delivery, delivery_policy, delivery_queue, outbox, peers, worker
from schema.tables import Delivery, Follow, OutboxActivity, PeerHost, RemoteActor, User
from schema.tables._base import utcnow
from tests.factories import log_in, make_association, make_user, post_form
from tests.federation_support import FakeServer, Instance, Router, make_instance

T0 = datetime(2020, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Instance, FakeServer, int]:
    router = Router()
    ours = make_instance(tmp_path, "a", router, shared_db=True)
    remote = FakeServer("remote.test")
    router.add("remote.test", remote.transport())
    owner = make_user(ours.db, username="owner", is_admin=True)
    association = make_association(ours.db, owner, name="Amis", slug="amis")
    assert association.id is not None
    return ours, remote, association.id


def queue(
    ours: Instance, association_id: int, inboxes: list[str], *, now: datetime = T0, number: int = 1
) -> None:
    body = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"http://a.test/activities/{number}",
        "type": "Create",
        "actor": "http://a.test/associations/amis",
        "object": {"id": f"http://a.test/associations/amis/notes/{number}", "type": "Note"},
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "bcc": ["http://secret.test/users/x"],
    }
    with ours.db.write() as session:
        outbox.publish(
            session,
            config=ours.config,
            actor_kind="association",
            actor_id=association_id,
            activity=body,
            inboxes=inboxes,
            now=now,
        )


def rows(ours: Instance) -> list[Delivery]:
    with ours.db.read() as session:
        return list(session.exec(select(Delivery).order_by(Delivery.id)))


def host(ours: Instance, name: str = "remote.test") -> PeerHost | None:
    with ours.db.read() as session:
        return session.get(PeerHost, name)


async def run(ours: Instance, now: datetime) -> int:
    async with ours.client() as client:
        return await delivery.run_once(ours.db, client, ours.config, now=now, worker_id="test")


async def test_delivered_once_signed_without_bcc(setup: Any) -> None:
    ours, remote, asso = setup
    queue(ours, asso, ["http://remote.test/inbox", "http://remote.test/inbox"])
    assert await run(ours, T0) == 1
    assert await run(ours, T0 + timedelta(hours=1)) == 0
    [row] = rows(ours)
    assert (row.state, row.attempts, row.last_status) == ("sent", 1, 202)
    [(url, body, headers)] = remote.received
    assert url == "http://remote.test/inbox" and "bcc" not in body
    assert 'keyId="http://a.test/associations/amis#main-key"' in headers["signature"]
    assert host(ours).signature_scheme == "cavage"  # type: ignore[union-attr]


async def test_retry_schedule_walks_to_expiry_and_admin_retry(setup: Any) -> None:
    ours, remote, asso = setup
    ours.router.down.add("remote.test")
    queue(ours, asso, ["http://remote.test/inbox"])
    now, waits = T0, []
    while rows(ours)[0].state in delivery_policy.OPEN_STATES:
        claimed = await run(ours, now)
        row = rows(ours)[0]
        # Each due attempt is made, except at the deadline itself: then the row expires
        # when claimed (a dead host's probe may not be due yet: the jitter decides).
        assert claimed == 1 or (
            row.state == "expired" and now - T0 == delivery_policy.EXPIRES_AFTER
        )
        if row.state == "retrying":
            waits.append(row.next_attempt_at - now)
            assert await run(ours, row.next_attempt_at - timedelta(seconds=1)) == 0  # not yet due
            now = row.next_attempt_at
    row = rows(ours)[0]
    assert row.state == "expired" and row.finished_at == now
    assert now - T0 == delivery_policy.EXPIRES_AFTER
    for wait, base in zip(waits, delivery_policy.BACKOFF, strict=False):
        assert base * 0.9 <= wait <= base * 1.1
    assert row.attempts >= 8 and len(waits) in {row.attempts - 1, row.attempts}
    assert "ConnectError" in row.last_error
    # The admin sees it and queues it again; the host is back.
    ours.router.down.discard("remote.test")
    async with ours.browser() as client:
        with ours.db.read() as session:
            admin = session.exec(select(User).where(User.username == "owner")).one()
        await log_in(client, admin)
        page = await client.get("/admin/federation")
        assert f'id="delivery-{row.id}"' in page.text and "ConnectError" in page.text
        retried = await post_form(
            client, f"/admin/federation/deliveries/{row.id}/retry", {}, page="/admin/federation"
        )
        again = await post_form(
            client, f"/admin/federation/deliveries/{row.id}/retry", {}, page="/admin/federation"
        )
    assert retried.status_code == 303
    assert again.status_code == 404  # pending now: nothing to retry
    assert await run(ours, utcnow() + timedelta(seconds=1)) == 1
    assert rows(ours)[0].state == "sent"
    assert len(remote.received) == 1


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (200, "sent"),
        (202, "sent"),
        (204, "sent"),
        (400, "failed"),
        (403, "failed"),
        (404, "failed"),
        (410, "failed"),
        (422, "failed"),
        (501, "failed"),
        (401, "retrying"),
        (408, "retrying"),
        (429, "retrying"),
        (500, "retrying"),
        (502, "retrying"),
        (503, "retrying"),
    ],
)
async def test_statuses_decide_the_state(setup: Any, status: int, state: str) -> None:
    ours, remote, asso = setup
    remote.answer = lambda request: httpx.Response(status) if request.method == "POST" else None
    queue(ours, asso, ["http://remote.test/inbox"])
    await run(ours, T0)
    row = rows(ours)[0]
    assert (row.state, row.last_status) == (state, status)
    expected_posts = 2 if status in (400, 401) else 1  # the second knock (other scheme)
    assert len([r for r in ours.router.log if r.method == "POST"]) == expected_posts


async def test_retry_after_is_respected_on_429(setup: Any) -> None:
    ours, remote, asso = setup
    remote.answer = lambda request: httpx.Response(429, headers={"Retry-After": "7200"})
    queue(ours, asso, ["http://remote.test/inbox"])
    await run(ours, T0)
    assert rows(ours)[0].next_attempt_at == T0 + timedelta(hours=2)
    assert delivery_policy.retry_after("Wed, 01 Jan 2020 13:00:00 GMT", now=T0) == timedelta(
        hours=1
    )
    assert delivery_policy.retry_after("soon", now=T0) is None
    assert delivery_policy.retry_after("999999999", now=T0) == delivery_policy.MAX_RETRY_AFTER


async def test_second_knock_scheme_is_remembered(setup: Any) -> None:
    ours, remote, asso = setup

    def only_rfc9421(request: httpx.Request) -> httpx.Response | None:
        if request.method == "POST" and "signature-input" not in request.headers:
            return httpx.Response(401)
        return None

    remote.answer = only_rfc9421
    queue(ours, asso, ["http://remote.test/inbox"], number=1)
    await run(ours, T0)
    assert host(ours).signature_scheme == "rfc9421"  # type: ignore[union-attr]
    ours.router.log.clear()
    queue(ours, asso, ["http://remote.test/inbox"], number=2)
    await run(ours, T0 + timedelta(seconds=1))
    posts = [r for r in ours.router.log if r.method == "POST"]
    assert len(posts) == 1 and "signature-input" in posts[0].headers
    assert [r.state for r in rows(ours)] == ["sent", "sent"]


async def test_dead_host_is_probed_hourly_then_comes_back(setup: Any) -> None:
    ours, remote, asso = setup
    ours.router.down.add("remote.test")
    queue(ours, asso, ["http://remote.test/inbox"], number=1)
    now = T0
    while host(ours) is None or host(ours).dead_since is None:  # type: ignore[union-attr]
        await run(ours, now)
        now = rows(ours)[0].next_attempt_at
    dead = host(ours)
    assert dead is not None and dead.consecutive_failures >= peers.DEAD_AFTER_FAILURES
    assert dead.dead_since - dead.first_failure_at >= peers.DEAD_AFTER  # type: ignore[operator]
    # New work for the dead host: one probe per hour, the rest waits (not failed).
    for number in range(2, 6):
        queue(ours, asso, [f"http://remote.test/users/{number}/inbox"], now=now, number=number)
    ours.router.log.clear()
    probe_time = now + timedelta(minutes=61)
    assert await run(ours, probe_time) == 1
    assert await run(ours, probe_time + timedelta(minutes=30)) == 0
    assert len(ours.router.log) == 1
    assert not {r.state for r in rows(ours)} & {"sent", "failed"}  # postponed, not failed
    # It answers again: the next probe succeeds and everything flows.
    ours.router.down.discard("remote.test")
    back = probe_time + timedelta(minutes=61)
    total = 0
    for step in range(6):
        total += await run(ours, back + timedelta(hours=step * 3))
    assert host(ours).dead_since is None  # type: ignore[union-attr]
    # The first one's three days ran out while the host was dead; the others arrived.
    assert [r.state for r in rows(ours)][1:] == ["sent"] * 4
    assert rows(ours)[0].state in {"expired", "sent"}
    assert len(remote.received) == 4 + (rows(ours)[0].state == "sent")


async def test_a_dead_host_does_not_hold_back_others(setup: Any) -> None:
    ours, remote, asso = setup
    other = FakeServer("other.test")
    ours.router.add("other.test", other.transport())
    with ours.db.write() as session:
        row = peers.peer(session, "remote.test")
        row.dead_since = T0 - timedelta(days=1)
        row.last_probe_at = T0
        session.add(row)
    queue(ours, asso, ["http://remote.test/inbox", "http://other.test/inbox"])
    assert await run(ours, T0 + timedelta(minutes=1)) == 1
    assert len(other.received) == 1 and not remote.received


async def test_per_host_concurrency_is_bounded(setup: Any) -> None:
    ours, remote, asso = setup
    live = {"now": 0, "peak": 0}

    class Slow(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            live["now"] += 1
            live["peak"] = max(live["peak"], live["now"])
            await asyncio.sleep(0.02)
            live["now"] -= 1
            return httpx.Response(202)

    ours.router.add("remote.test", Slow())
    queue(ours, asso, [f"http://remote.test/users/{n}/inbox" for n in range(12)])
    assert await run(ours, T0) == 12
    assert live["peak"] == ours.config.federation.per_host_concurrency


async def test_followers_are_reached_through_shared_inboxes(setup: Any) -> None:
    ours, remote, asso = setup
    with ours.db.write() as session:
        for number, shared in ((1, True), (2, True), (3, False), (4, False)):
            actor = RemoteActor(
                uri=f"http://remote.test/users/{number}",
                host="remote.test",
                inbox=f"http://remote.test/users/{number}/inbox",
                shared_inbox="http://remote.test/inbox" if shared else "",
            )
            session.add(actor)
            session.flush()
            state = "pending" if number == 4 else "accepted"
            session.add(
                Follow(
                    direction="in",
                    local_kind="association",
                    local_id=asso,
                    remote_actor_id=actor.id,
                    follow_activity_id=f"http://remote.test/f/{number}",
                    state=state,
                )
            )
        inboxes = outbox.follower_inboxes(session, kind="association", owner_id=asso)
    assert inboxes == ["http://remote.test/inbox", "http://remote.test/users/3/inbox"]


async def test_blocked_hosts_get_nothing(setup: Any) -> None:
    ours, remote, asso = setup
    queue(ours, asso, ["http://remote.test/inbox"], number=1)
    with ours.db.write() as session:
        blocks.add_block(session, domain="remote.test")
    queue(ours, asso, ["http://remote.test/inbox"], number=2)
    await run(ours, T0)
    assert len(rows(ours)) == 1  # the second was never queued
    assert (rows(ours)[0].state, rows(ours)[0].last_error) == ("failed", "blocked")
    assert not remote.received


async def test_same_object_goes_out_in_order(setup: Any) -> None:
    ours, remote, asso = setup
    remote.answer = lambda request: httpx.Response(503)
    queue(ours, asso, ["http://remote.test/inbox"], number=1)
    with ours.db.write() as session:
        outbox.publish(
            session,
            config=ours.config,
            actor_kind="association",
            actor_id=asso,
            activity={
                "id": "http://a.test/activities/update-1",
                "type": "Update",
                "actor": "http://a.test/associations/amis",
                "object": {"id": "http://a.test/associations/amis/notes/1", "type": "Note"},
            },
            inboxes=["http://remote.test/inbox"],
            now=T0,
        )
    assert await run(ours, T0) == 1  # only the Create: the Update waits behind it
    remote.answer = None
    assert await run(ours, T0 + timedelta(hours=1)) == 1
    assert await run(ours, T0 + timedelta(hours=1)) == 1
    assert [body["type"] for body in remote.activities()] == ["Create", "Update"]


async def test_undo_waits_for_the_activity_it_undoes(setup: Any) -> None:
    ours, remote, asso = setup
    follow = {
        "id": "http://a.test/activities/follow-1",
        "type": "Follow",
        "actor": "http://a.test/associations/amis",
        "object": "http://remote.test/users/reseau",
    }
    undo = {
        "id": "http://a.test/activities/undo-1",
        "type": "Undo",
        "actor": "http://a.test/associations/amis",
        "object": follow,
    }
    with ours.db.write() as session:
        for activity in (follow, undo):
            outbox.publish(
                session,
                config=ours.config,
                actor_kind="association",
                actor_id=asso,
                activity=activity,
                inboxes=["http://remote.test/inbox"],
                now=T0,
            )
    assert await run(ours, T0) == 1  # the Undo waits behind the Follow it undoes
    assert await run(ours, T0) == 1
    assert [body["type"] for body in remote.activities()] == ["Follow", "Undo"]


async def test_leases_keep_two_workers_apart(setup: Any) -> None:
    ours, _remote, asso = setup
    queue(ours, asso, [f"http://remote.test/users/{n}/inbox" for n in range(4)])
    with ours.db.write() as session:
        first = delivery_queue.claim_due(
            session, now=T0, limit=3, worker_id="one", config=ours.config
        )
    with ours.db.write() as session:
        second = delivery_queue.claim_due(
            session, now=T0, limit=10, worker_id="two", config=ours.config
        )
    assert len(first) == 3 and len(second) == 1
    assert {r.id for r in first}.isdisjoint({r.id for r in second})
    later = T0 + delivery_policy.lease(ours.config) + timedelta(seconds=1)
    with ours.db.write() as session:
        third = delivery_queue.claim_due(
            session, now=later, limit=10, worker_id="three", config=ours.config
        )
    assert len(third) == 4  # the leases ran out (a worker died)
    with ours.db.write() as session:
        assert delivery_queue.release_locks(session, worker_id="three") == 4


def test_undeclared_transitions_raise() -> None:
    row = Delivery(activity_pk=1, inbox_url="x", host="x", state="sent")
    for target in ("pending", "retrying", "failed", "expired"):
        with pytest.raises(delivery_policy.InvalidTransition):
            delivery_policy.transition(row, target, now=T0)
    row.state = "pending"
    with pytest.raises(delivery_policy.InvalidTransition):
        delivery_policy.transition(row, "pending", now=T0)
    delivery_policy.transition(row, "retrying", now=T0)
    delivery_policy.transition(row, "sent", now=T0)
    assert row.finished_at == T0


def test_backoff_table_and_jitter() -> None:
    assert delivery_policy.backoff(1, rng=lambda: 0.5) == timedelta(minutes=1)
    assert delivery_policy.backoff(1, rng=lambda: 0.0) == timedelta(seconds=54)
    assert delivery_policy.backoff(1, rng=lambda: 1.0) == timedelta(seconds=66)
    assert delivery_policy.backoff(7, rng=lambda: 0.5) == timedelta(hours=24)
    assert delivery_policy.backoff(50, rng=lambda: 0.5) == timedelta(hours=24)
    assert sum(delivery_policy.BACKOFF, timedelta()) < delivery_policy.EXPIRES_AFTER


# -- the worker loop -----------------------------------------------------------------


async def test_worker_wakes_up_on_commit_and_stops(setup: Any) -> None:
    ours, remote, asso = setup
    stop = asyncio.Event()
    async with ours.client() as client:
        task = asyncio.create_task(
            worker.run_worker(ours.db, ours.config, client=client, stop=stop, poll_interval=60)
        )
        await asyncio.sleep(0.2)
        queue(ours, asso, ["http://remote.test/inbox"], now=utcnow())
        for _wait in range(100):
            if remote.received:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 5)
    assert len(remote.received) == 1


async def test_only_one_sqlite_worker_holds_the_lock(tmp_path: Path) -> None:
    router = Router()
    ours = make_instance(tmp_path, "solo", router)
    path = worker.lock_path(ours.db)
    assert path is not None and path.name == "benefed.db.worker.lock"
    held = worker.try_lock(path)
    assert held is not None
    assert worker.try_lock(path) is None
    stop = asyncio.Event()
    task = asyncio.create_task(
        worker.run_worker(ours.db, ours.config, stop=stop, poll_interval=0.05)
    )
    await asyncio.sleep(0.3)
    assert not task.done()  # waiting for the lock, doing nothing
    held.close()
    await asyncio.sleep(worker.LOCK_RETRY_SECONDS + 0.5)
    assert worker.try_lock(path) is None  # it took the lock
    stop.set()
    await asyncio.wait_for(task, 5)
    again = worker.try_lock(path)
    assert again is not None
    again.close()


def test_body_is_stored_once_without_bcc(setup: Any) -> None:
    ours, _remote, asso = setup
    queue(ours, asso, [])
    with ours.db.read() as session:
        stored = session.exec(select(OutboxActivity)).one()
    assert "bcc" not in json.loads(stored.body) and stored.is_public
