"""Federation benchmarks, each beside a baseline measured in the same run.

1. Inbox throughput: signed activities verified and stored per second by a real
   ``benefed serve`` (one process, worker off), loaded by wrk replaying POSTs
   signed beforehand (each a new activity, so each is verified and stored: the
   figure counts the rows that appeared), to the shared inbox and to an
   association's inbox, against the bare Starlette hello served by the same
   uvicorn and loaded by the same wrk. Target: >= 500/s on 2 cores.
2. Fan-out: one note of an association to 1,000 followers' personal inboxes on
   20 hosts (ports of one sink process), no shared inbox, signed and delivered by
   the worker's own delivery rounds; against the same 1,000 POSTs sent unsigned by
   a bare httpx client. The sink counts what it received: each exactly once.
   Target: <= 10 s.

Run: ``python -m bench.federation [--seconds 5] [--connections 16]``.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func
from sqlmodel import Session, select

from bench import wrk
from bench.export import cpu_seconds
from bench.servers import hello_server
from federation import delivery, notes
from instance.config import load_config
from schema.db import Database, make_engine
from schema.tables import Delivery, Follow, InboxItem, RemoteActor
from schema.tables._base import utcnow
from tests.factories import make_association, make_user
from tests.federation_support import FakeActor, Stub, signed_headers
from tests.live import LiveInstance, cli_env, free_port

SENDERS = 10
WORKER_OFF = "BENEFED_FEDERATION_RUN_WORKER_IN_SERVER"
MAX_RATE = 3000  # requests signed beforehand per second of wrk
FANOUT_INBOXES = 1000
FANOUT_HOSTS = 20
BARE_CONCURRENCY = 32

# Each wrk thread replays its share of the signed requests (NUL-separated in a file);
# when they run out it stops and its last request is a GET /health (nothing stored).
REPLAY_LUA = r"""
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
local requests = {}
local sent = 0
function init(args)
  local file = assert(io.open("%(path)s", "rb"))
  local data = file:read("*a")
  file:close()
  local number = 0
  for chunk in string.gmatch(data, "([^%%z]+)") do
    if number %% %(threads)d == id then requests[#requests + 1] = chunk end
    number = number + 1
  end
end
function request()
  sent = sent + 1
  if sent > #requests then
    wrk.thread:stop()
    return wrk.format("GET", "/health")
  end
  return requests[sent]
end
"""


def _activity(actor: FakeActor, number: int) -> bytes:
    note = {
        "id": f"{actor.uri}/notes/{number}",
        "type": "Note",
        "attributedTo": actor.uri,
        "content": f"<p>Bench note {number}</p>",
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
    }
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor.uri}/activities/{number}",
        "type": "Create",
        "actor": actor.uri,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "object": note,
    }
    return json.dumps(activity).encode()


def signed_requests(
    base: str, path: str, actors: list[FakeActor], count: int, *, first: int = 0
) -> list[bytes]:
    """Raw HTTP/1.1 POSTs of new activities to an inbox, each signed by one of the actors."""
    host = base.split("//", 1)[1]
    made = []
    for number in range(first, first + count):
        actor = actors[number % len(actors)]
        body = _activity(actor, number)
        headers = signed_headers(actor, base + path, body, now=utcnow())
        lines = [f"POST {path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() != "host"]
        lines.append(f"Content-Length: {len(body)}")
        made.append(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    return made


def _stored(database: Path) -> int:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as session:
            return session.exec(select(func.count()).select_from(InboxItem)).one()
    finally:
        engine.dispose()


def _warm_up(base: str, path: str, actors: list[FakeActor]) -> None:
    """Deliver one activity per sender: their actors are fetched and cached here."""
    for actor in actors:
        body = _activity(actor, -1)
        headers = signed_headers(actor, base + path, body, now=utcnow())
        response = httpx.post(base + path, content=body, headers=headers, timeout=30)
        if response.status_code != 202:
            raise SystemExit(f"warm-up refused: {response.status_code} {response.text}")


@dataclass(frozen=True)
class InboxRun:
    """One wrk run against an inbox: what wrk saw and how many rows appeared."""

    path: str
    result: wrk.LoadResult
    stored: int
    prepared: int
    server_cpu: float

    @property
    def rate(self) -> float:
        """Activities stored per second of the run."""
        return self.stored / (self.result.requests / self.result.requests_per_second)


def _load_inbox(
    instance: LiveInstance, path: str, actors: list[FakeActor], options: tuple[int, int, int]
) -> InboxRun:
    """Replay new signed activities to one inbox; ``options``: run number, seconds, connections."""
    number, seconds, connections = options
    count = MAX_RATE * seconds
    requests = signed_requests(instance.url, path, actors, count, first=number * count)
    data = instance.directory / "requests.bin"
    data.write_bytes(b"\0".join(requests))
    lua = REPLAY_LUA % {"path": data, "threads": min(connections, 2)}
    database = instance.directory / "benefed.db"
    assert instance.process is not None
    before, cpu = _stored(database), cpu_seconds(instance.process.pid)
    result = wrk.run(instance.url + path, connections=connections, seconds=seconds, lua=lua)
    stored = _stored(database) - before
    server_cpu = cpu_seconds(instance.process.pid) - cpu
    return InboxRun(path, result, stored, len(requests), server_cpu)


def _inbox_text(run: InboxRun, hello: wrk.LoadResult) -> str:
    ran_out = " (ran out of signed requests: at least)" if run.stored >= run.prepared else ""
    verdict = "met" if run.rate >= 500 and not run.result.errors else "MISSED"
    return (
        f"inbox {run.path}: {run.rate:6.0f} signed activities verified+stored/s{ran_out}, "
        f"p50 {run.result.p50_ms:.1f} ms, p99 {run.result.p99_ms:.1f} ms, "
        f"{run.result.errors} errors, {run.stored} stored for {run.result.requests} answers, "
        f"server CPU {run.server_cpu * 1000 / max(run.stored, 1):.2f} ms each\n"
        f"    bare starlette hello, same wrk: {hello.requests_per_second:6.0f} req/s, "
        f"p50 {hello.p50_ms:.2f} ms   ratio {run.rate / hello.requests_per_second:.3f}x   "
        f"target >= 500/s: {verdict}"
    )


def inbox_lines(scratch: Path, seconds: int, connections: int) -> str:
    """Signed activities verified and stored per second (shared and personal inbox)."""
    instance = LiveInstance(scratch / "inbox", settings={WORKER_OFF: "false"})
    instance.write_config()
    instance.cli("migrate")
    db = Database(make_engine(load_config(instance.config_path).database_url))
    make_association(db, make_user(db), name="Bench", slug="bench")
    db.dispose()
    stub = Stub(scratch / "stub").start()
    try:
        instance.start()
        actors = [stub.actor(f"bench{n}") for n in range(SENDERS)]
        _warm_up(instance.url, "/inbox", actors)
        runs = [
            _load_inbox(instance, path, actors, (number, seconds, connections))
            for number, path in enumerate(("/inbox", "/associations/bench/inbox"))
        ]
    finally:
        instance.stop()
        stub.stop()
    with hello_server() as (url, _pid):
        hello = wrk.run(url + "/", connections=connections, seconds=seconds)
    return "\n".join(_inbox_text(run, hello) for run in runs)


def _followers(db: Database, association_id: int, ports: list[int]) -> None:
    with db.write() as session:
        for number in range(FANOUT_INBOXES):
            port = ports[number % len(ports)]
            uri = f"http://127.0.0.1:{port}/users/u{number}"
            actor = RemoteActor(uri=uri, host=f"127.0.0.1:{port}", inbox=f"{uri}/inbox")
            session.add(actor)
            session.flush()
            assert actor.id is not None
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
    """Run the worker's delivery rounds (its client, its claim size) until the queue is empty."""
    started = time.perf_counter()
    async with delivery.make_client(config) as client:
        while await delivery.run_once(db, client, config, now=utcnow(), worker_id="bench"):
            pass
    return time.perf_counter() - started


async def _bare(posts: list[Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]]) -> int:
    """Send the POSTs BARE_CONCURRENCY at a time; the failures."""
    queue = list(reversed(posts))
    failures = 0

    async def lane(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while queue:
            response = await queue.pop()(client)
            failures += response.status_code >= 300

    limits = httpx.Limits(max_connections=BARE_CONCURRENCY)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(lane(client) for _ in range(BARE_CONCURRENCY)))
    return failures


def _sink_count(port: int) -> int:
    return int(httpx.get(f"http://127.0.0.1:{port}/count", timeout=10).text)


def _start_sink(ports: list[int]) -> subprocess.Popen[bytes]:
    sink = subprocess.Popen([sys.executable, "-m", "bench.sink", *map(str, ports)], env=cli_env())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            _sink_count(ports[0])
            return sink
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("the sink did not start")


def fanout_line(scratch: Path) -> str:
    """One note to 1,000 personal inboxes on 20 hosts, beside bare unsigned POSTs."""
    ports = [free_port() for _ in range(FANOUT_HOSTS)]
    sink = _start_sink(ports)
    try:
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
            notes.publish_note(
                session, config=config, association=association, by=owner, content="Bench note"
            )
        seconds = asyncio.run(_deliver_all(db, config))
        with db.read() as session:
            states = [row.state for row in session.exec(select(Delivery))]
        received = _sink_count(ports[0])
        posts = [
            (
                lambda c, p=ports[n % FANOUT_HOSTS], n=n: c.post(
                    f"http://127.0.0.1:{p}/users/u{n}/inbox", content=b"{}"
                )
            )
            for n in range(FANOUT_INBOXES)
        ]
        started = time.perf_counter()
        failures = asyncio.run(_bare(posts))
        bare = time.perf_counter() - started
        db.dispose()
    finally:
        sink.kill()
        sink.wait()
    verdict = "met" if seconds <= 10 and states.count("sent") == FANOUT_INBOXES else "MISSED"
    return (
        f"fan-out  {seconds:8.2f} s for {states.count('sent')}/{FANOUT_INBOXES} signed deliveries "
        f"on {FANOUT_HOSTS} hosts, the sink received {received} (each once: "
        f"{'yes' if received == FANOUT_INBOXES else 'NO'})\n"
        f"         bare unsigned POSTs, same sink, httpx {BARE_CONCURRENCY} connections: "
        f"{bare:6.2f} s ({failures} failed)   ratio {seconds / bare:.2f}x   target <= 10 s: {verdict}"
    )


def main() -> None:
    """Run both benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    options = parser.parse_args()
    print(
        f"Benefed federation benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        print(inbox_lines(Path(scratch), options.seconds, options.connections), flush=True)
        print(fanout_line(Path(scratch)), flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
