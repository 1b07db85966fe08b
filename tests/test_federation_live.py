"""Real instances (`benefed serve` processes) federating over loopback.

Two and three instances follow each other and exchange notes; a peer goes down
and comes back; the sender is killed (-9) in the middle of a delivery and
restarted; forged requests are refused and nothing is stored.
"""

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from federation import blocks, notes, outbox
from instance.config import load_config
from schema.db import Database, make_engine
from schema.tables import Association, Delivery, Follow, InboxItem, RemoteActor, User
from schema.tables._base import utcnow
from tests.factories import make_association, make_user
from tests.federation_support import Stub, activity, cached_key, signed_headers, wait_for
from tests.live import LiveInstance

# Its instances keep their own SQLite files whatever the test database:
# the PostgreSQL pass of scripts/test.sh leaves it out.
pytestmark = pytest.mark.sqlite_only

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def database(instance: LiveInstance) -> Database:
    """The instance's database, opened from the test."""
    url = (
        os.environ.get("BENEFED_LIVE_DATABASE_URL")
        or f"sqlite:///{instance.directory / 'benefed.db'}"
    )
    return Database(make_engine(url))


def token(
    instance: LiveInstance, username: str, password: str = "correct horse battery"
) -> dict[str, str]:
    response = httpx.post(
        f"{instance.url}/api/v1/auth/token",
        json={"username": username, "password": password},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def setup_association(instance: LiveInstance, slug: str) -> tuple[Database, dict[str, str]]:
    db = database(instance)
    owner = make_user(db, username=f"owner{slug}")
    make_association(db, owner, name=f"Asso {slug}", slug=slug)
    return db, token(instance, owner.username)


def follow(instance: LiveInstance, headers: dict[str, str], slug: str, account: str) -> None:
    response = httpx.post(
        f"{instance.url}/api/v1/associations/{slug}/following",
        json={"account": account},
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 201, response.text


def publish(
    instance: LiveInstance, headers: dict[str, str], slug: str, text: str
) -> dict[str, Any]:
    response = httpx.post(
        f"{instance.url}/api/v1/associations/{slug}/notes",
        json={"content": text},
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def follow_state(db: Database, direction: str) -> list[str]:
    with db.read() as session:
        return [f.state for f in session.exec(select(Follow).where(Follow.direction == direction))]


def created_notes(db: Database) -> list[str]:
    """The note ids of the Create activities an instance received (one row per activity)."""
    with db.read() as session:
        items = session.exec(select(InboxItem).where(InboxItem.activity_type == "Create"))
        return sorted(json.loads(i.body)["object"]["id"] for i in items if i.processed_at)


def host_of(instance: LiveInstance) -> str:
    return instance.url.removeprefix("http://")


def test_follow_and_notes_across_three_instances(live: Callable[..., LiveInstance]) -> None:
    a, b, c = live("a"), live("b"), live("c")
    db_a, auth_a = setup_association(a, "alpha")
    db_b, auth_b = setup_association(b, "beta")
    db_c, auth_c = setup_association(c, "gamma")
    follow(a, auth_a, "alpha", f"beta@{host_of(b)}")
    follow(c, auth_c, "gamma", f"@beta@{host_of(b)}")
    wait_for(lambda: follow_state(db_a, "out") == ["accepted"], what="A's follow accepted")
    wait_for(lambda: follow_state(db_c, "out") == ["accepted"], what="C's follow accepted")
    assert follow_state(db_b, "in") == ["accepted", "accepted"]
    note = publish(b, auth_b, "beta", "42 volunteers gave 312 hours")
    for db in (db_a, db_c):
        wait_for(lambda db=db: created_notes(db) == [note["url"]], what="the note delivered")
    page = httpx.get(f"{b.url}/associations/beta/notes", timeout=10)
    assert "42 volunteers gave 312 hours" in page.text
    with db_b.read() as session:
        sent = list(session.exec(select(Delivery)))
    assert {d.state for d in sent} == {"sent"}


def test_peer_down_then_back_nothing_lost_no_duplicate(live: Callable[..., LiveInstance]) -> None:
    a, b = live("a"), live("b")
    db_a, auth_a = setup_association(a, "alpha")
    db_b, auth_b = setup_association(b, "beta")
    follow(b, auth_b, "beta", f"alpha@{host_of(a)}")
    wait_for(lambda: follow_state(db_b, "out") == ["accepted"], what="B follows A")
    b.stop()
    urls = [publish(a, auth_a, "alpha", f"note {n}")["url"] for n in range(3)]

    def retrying() -> bool:
        with db_a.read() as session:
            rows = list(session.exec(select(Delivery).where(col(Delivery.activity_pk) > 1)))
        return len(rows) == 3 and all(r.state == "retrying" for r in rows)

    wait_for(retrying, what="deliveries failing while B is down")
    b.start()
    with db_a.write() as session:  # time passes: the retries are due
        for row in session.exec(select(Delivery).where(Delivery.state == "retrying")):
            row.next_attempt_at = utcnow()
            session.add(row)
    wait_for(lambda: created_notes(db_b) == sorted(urls), what="notes arrive after the outage")

    def recorded() -> bool:
        """A records the outcomes after B answered (in batches): wait for them."""
        with db_a.read() as session:
            rows = list(session.exec(select(Delivery).where(col(Delivery.activity_pk) > 1)))
        return len(rows) == 3 and all(r.state == "sent" and r.attempts >= 2 for r in rows)

    wait_for(recorded, what="each delivery recorded as sent after a retry")
    time.sleep(1)
    assert created_notes(db_b) == sorted(urls)  # each exactly once


@pytest.fixture
def stub(tmp_path: Path) -> Iterator[Callable[..., Stub]]:
    started: list[Stub] = []

    def start(stall: float = 0.0) -> Stub:
        found = Stub(tmp_path / f"stub{len(started)}", stall=stall).start()
        started.append(found)
        return found

    yield start
    for found in started:
        found.stop()


def add_follower(db: Database, slug: str, inbox: str, uri: str) -> None:
    """A remote follower of an association, recorded directly."""
    with db.write() as session:
        association = session.exec(select(Association).where(Association.slug == slug)).one()
        actor = RemoteActor(uri=uri, host=uri.split("/")[2], inbox=inbox, shared_inbox=inbox)
        session.add(actor)
        session.flush()
        session.add(
            Follow(
                direction="in",
                local_kind="association",
                local_id=association.id,
                remote_actor_id=actor.id,
                follow_activity_id=f"{uri}/follow",
                state="accepted",
            )
        )


def test_kill_9_while_the_peer_stalls_then_restart_delivers_once(
    live: Callable[..., LiveInstance], stub: Callable[..., Stub]
) -> None:
    peer = stub(stall=20)
    a = live("a")
    db_a, auth_a = setup_association(a, "alpha")
    add_follower(db_a, "alpha", f"{peer.url}/inbox", f"{peer.url}/users/bob")
    note = publish(a, auth_a, "alpha", "killed mid-delivery")
    wait_for(lambda: peer.events("stalling"), what="the peer holding the delivery")
    a.stop(kill=True)  # kill -9 while the POST waits for its answer
    with db_a.read() as session:
        row = session.exec(select(Delivery)).one()
    assert row.state == "pending" and row.locked_until is not None  # claimed, never recorded
    a.start()
    wait_for(lambda: len(peer.events("received")) >= 2, what="the delivery sent again")

    def sent() -> bool:
        with db_a.read() as session:
            return session.exec(select(Delivery)).one().state == "sent"

    wait_for(sent, what="the delivery recorded as sent")
    processed = peer.events("processed")
    assert [e["id"] for e in processed] == [f"{note['url']}/activity"]  # exactly once
    assert {e["id"] for e in peer.events("received")} == {processed[0]["id"]}


def test_kill_9_of_the_sender_between_deliveries(live: Callable[..., LiveInstance]) -> None:
    a, b = live("a"), live("b")
    db_a, auth_a = setup_association(a, "alpha")
    db_b, auth_b = setup_association(b, "beta")
    follow(b, auth_b, "beta", f"alpha@{host_of(a)}")
    wait_for(lambda: follow_state(db_b, "out") == ["accepted"], what="B follows A")
    urls, config = [], load_config(a.config_path)
    with db_a.write() as session:  # 30 notes queued at once, then the sender dies
        alpha = session.exec(select(Association).where(Association.slug == "alpha")).one()
        owner = session.exec(select(User).where(User.username == "owneralpha")).one()
        for number in range(30):
            note = notes.publish_note(
                session, config=config, association=alpha, by=owner, content=f"n{number}"
            )
            urls.append(f"{a.url}/associations/alpha/notes/{note.id}")
    time.sleep(0.3)
    a.stop(kill=True)
    a.start()
    wait_for(lambda: created_notes(db_b) == sorted(urls), timeout=60, what="all 30 notes")
    with db_b.read() as session:
        ids = [i.activity_id for i in session.exec(select(InboxItem))]
    assert len(ids) == len(set(ids))


# -- forged requests against a live inbox -------------------------------------------


async def _post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url, content=body, headers=headers)


def test_forged_requests_are_refused_and_replays_processed_once(
    live: Callable[..., LiveInstance], stub: Callable[..., Stub]
) -> None:
    peer = stub()
    other = stub()
    b = live("b")
    db_b, _auth = setup_association(b, "beta")
    bob = peer.actor("bob")
    inbox = f"{b.url}/associations/beta/inbox"
    follow_body = activity(bob, "Follow", f"{b.url}/associations/beta")
    raw = json.dumps(follow_body).encode()

    def send(body: bytes, headers: dict[str, str]) -> int:
        return asyncio.run(_post(inbox, body, headers)).status_code

    good = signed_headers(bob, inbox, raw)
    tampered = send(raw.replace(b"Follow", b"Fellow"), good)
    wrong_key = send(raw, signed_headers(bob, inbox, raw, key=cached_key(1)))
    expired = send(raw, signed_headers(bob, inbox, raw, now=utcnow() - timedelta(hours=3)))
    mallory = other.actor("mallory")  # another host's key claiming bob's activity
    other_host = send(raw, signed_headers(mallory, inbox, raw))
    unsigned = send(raw, {"Content-Type": "application/activity+json"})
    assert (tampered, wrong_key, expired, other_host, unsigned) == (401, 401, 401, 401, 401)
    with db_b.read() as session:
        assert list(session.exec(select(InboxItem))) == []
    assert send(raw, good) == 202
    assert send(raw, good) == 202  # the same request replayed
    wait_for(lambda: peer.events("processed"), what="B's Accept")
    time.sleep(1.5)
    accepts = [e for e in peer.events("received") if e["type"] == "Accept"]
    assert len(accepts) == 1
    with db_b.read() as session:
        assert len(list(session.exec(select(InboxItem)))) == 1
    with db_b.write() as session:
        blocks.add_block(session, domain=peer.url.removeprefix("http://"))
    again = activity(bob, "Follow", f"{b.url}/associations/beta", number=2)
    body = json.dumps(again).encode()
    assert send(body, signed_headers(bob, inbox, body)) == 403
    with db_b.read() as session:
        assert len(list(session.exec(select(InboxItem)))) == 1
        assert follow_state(db_b, "in") == ["ended"]


def test_outbox_rows_survive_until_a_worker_runs(
    live: Callable[..., LiveInstance], stub: Callable[..., Stub]
) -> None:
    peer = stub()
    a = live("a", BENEFED_FEDERATION_RUN_WORKER_IN_SERVER="false")
    db_a, auth_a = setup_association(a, "alpha")
    add_follower(db_a, "alpha", f"{peer.url}/inbox", f"{peer.url}/users/bob")
    publish(a, auth_a, "alpha", "queued, no worker yet")
    time.sleep(1)
    assert peer.events("received") == []
    worker = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "worker", "--id", "solo"],
        cwd=a.directory,
        env=a.env(),
    )
    try:
        wait_for(lambda: peer.events("processed"), what="the worker delivering")
    finally:
        worker.terminate()
        assert worker.wait(timeout=15) == 0
    with db_a.read() as session:
        assert [d.state for d in session.exec(select(Delivery))] == ["sent"]
    assert outbox.PUBLIC == PUBLIC
