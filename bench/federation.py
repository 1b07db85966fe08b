"""Federation benchmarks, each beside a baseline measured in the same run.

1. Inbox throughput: signed activities verified and stored per second by a real
   ``benefed serve`` (worker off), against the bare Starlette hello served by the
   same uvicorn and loaded by the same client. Target: >= 500/s on 2 cores.
2. Fan-out: one activity to 1,000 personal inboxes spread over 20 hosts (ports),
   no shared inbox, signed and delivered by the worker; against the same 1,000
   POSTs sent unsigned by a bare httpx client. Target: <= 10 s.

Run: ``python -m bench.federation``.
"""

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from sqlmodel import select

from bench.servers import benefed_server, hello_server
from federation import delivery, outbox
from federation.safe_http import make_client
from instance.config import load_config
from schema.db import Database, make_engine
from schema.tables import Association, Delivery, Follow, RemoteActor
from schema.tables._base import utcnow
from tests.factories import make_association, make_user
from tests.federation_support import FakeActor, Stub, signed_headers
from tests.live import LiveInstance, cli_env, free_port

INBOX_REQUESTS = 3000
CONCURRENCY = 32
FANOUT_INBOXES = 1000
FANOUT_HOSTS = 20


async def _fire(
    requests: list[Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]],
) -> tuple[float, int]:
    """Send the requests with CONCURRENCY at a time; (requests per second, failures)."""
    queue = list(reversed(requests))
    failures = 0

    async def lane(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while queue:
            response = await queue.pop()(client)
            failures += response.status_code >= 300

    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(lane(client) for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return len(requests) / elapsed, failures


def _signed_posts(
    inbox: str, actor: FakeActor, count: int
) -> list[Callable[..., Awaitable[httpx.Response]]]:
    made = []
    for number in range(count):
        body = json.dumps(
            {
                "@context": "https://www.w3.org/ns/activitystreams",
                "id": f"{actor.uri}/activities/{number}",
                "type": "Create",
                "actor": actor.uri,
                "object": {"id": f"{actor.uri}/notes/{number}", "type": "Note", "content": "hi"},
            }
        ).encode()
        headers = signed_headers(actor, inbox, body, now=utcnow())
        made.append(lambda c, b=body, h=headers: c.post(inbox, content=b, headers=h))
    return made


def inbox_throughput(scratch: Path) -> None:
    """Signed activities verified and stored per second, beside the bare hello."""
    stub = Stub(scratch / "stub").start()
    try:
        with benefed_server(
            scratch / "benefed", BENEFED_FEDERATION_RUN_WORKER_IN_SERVER="false"
        ) as instance:
            actor = stub.actor("bench")
            inbox = f"{instance.url}/inbox"
            asyncio.run(_fire(_signed_posts(inbox, actor, 1)))  # fetches and caches the actor
            requests = _signed_posts(inbox, actor, INBOX_REQUESTS + 1)[1:]
            rate, failures = asyncio.run(_fire(requests))
        with hello_server() as (url, _pid):
            hello = [lambda c: c.get(url + "/") for _ in range(INBOX_REQUESTS)]
            baseline, _ = asyncio.run(_fire(hello))
    finally:
        stub.stop()
    print(
        f"inbox      {rate:8.0f} signed activities verified+stored/s ({failures} refused)   "
        f"bare starlette hello, same client: {baseline:8.0f} req/s   target >= 500/s"
    )


def _followers(db: Database, association_id: int, ports: list[int]) -> None:
    with db.write() as session:
        for number in range(FANOUT_INBOXES):
            port = ports[number % len(ports)]
            uri = f"http://127.0.0.1:{port}/users/u{number}"
            actor = RemoteActor(uri=uri, host=f"127.0.0.1:{port}", inbox=f"{uri}/inbox")
            session.add(actor)
            session.flush()
            session.add(
                Follow(
                    direction="in",
                    local_kind="association",
                    local_id=association_id,
                    remote_actor_id=actor.id,
                    follow_activity_id=f"{uri}/follow",
                    state="accepted",
                )
            )


async def _deliver_all(db: Database, config: object) -> float:
    started = time.perf_counter()
    async with make_client(config) as client:  # type: ignore[arg-type]
        while True:
            done = await delivery.run_once(
                db, client, config, now=utcnow(), worker_id="bench", limit=500
            )
            if not done:
                break
    return time.perf_counter() - started


def fanout(scratch: Path) -> None:
    """One activity to 1,000 personal inboxes on 20 hosts, beside bare unsigned POSTs."""
    ports = [free_port() for _ in range(FANOUT_HOSTS)]
    sink = subprocess.Popen([sys.executable, "-m", "bench.sink", *map(str, ports)], env=cli_env())
    try:
        time.sleep(1)
        instance = LiveInstance(scratch / "fan")
        instance.write_config()
        instance.cli("migrate")
        config = load_config(instance.config_path)
        db = Database(make_engine(config.database_url))
        owner = make_user(db)
        association = make_association(db, owner, name="Bench", slug="bench")
        assert association.id is not None
        _followers(db, association.id, ports)
        with db.write() as session:
            amis = session.exec(select(Association).where(Association.slug == "bench")).one()
            outbox.publish_to_followers(
                session,
                config=config,
                kind="association",
                owner_id=amis.id,
                activity={
                    "id": f"{config.base_url}/activities/bench",
                    "type": "Create",
                    "actor": "x",
                    "object": {},
                },
            )
        seconds = asyncio.run(_deliver_all(db, config))
        with db.read() as session:
            sent = sum(1 for d in session.exec(select(Delivery)) if d.state == "sent")
        posts = [
            (
                lambda c, p=ports[n % FANOUT_HOSTS], n=n: c.post(
                    f"http://127.0.0.1:{p}/users/u{n}/inbox", content=b"{}"
                )
            )
            for n in range(FANOUT_INBOXES)
        ]
        started = time.perf_counter()
        asyncio.run(_fire(posts))
        bare = time.perf_counter() - started
    finally:
        sink.kill()
        sink.wait()
    print(
        f"fan-out    {seconds:8.2f} s for {sent}/{FANOUT_INBOXES} signed deliveries on {FANOUT_HOSTS} hosts   "
        f"bare unsigned POSTs, same sink: {bare:6.2f} s   target <= 10 s"
    )


def main() -> None:
    """Run both benchmarks."""
    with tempfile.TemporaryDirectory() as scratch:
        inbox_throughput(Path(scratch))
        fanout(Path(scratch))


if __name__ == "__main__":
    main()
