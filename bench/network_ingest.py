"""Network ingest benchmark: how long a network takes to take in 1,000 signed reports.

Two real instances on 127.0.0.1 (``benefed serve``, worker in the server): one
holds the member associations (100 by default, with their own keys), the other
the network they belong to. 1,000 NetworkReports (10 months of each member) are
built, signed with each association's Ed25519 key (FEP-8b32) and carried in
Create activities HTTP-signed with its RSA key, all made beforehand; then they
are POSTed to the network's inbox, 8 at a time, and the clock stops when the
network has verified and stored every one of them (counted rows with a verified
proof). The network fetches each member's actor document once, as in real life
after joining. Baseline in the same run: the same 1,000 POSTs, same
concurrency, to a bare sink that only counts them.
Run: ``python -m bench.network_ingest [--members 100] [--months 10]``.
"""

import argparse
import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.servers import rss_kib
from federation import actor_keys, reports_build, signatures, urls
from instance import associations, network_setup
from instance.config import load_config
from instance.report_figures import ReportFigures
from schema.db import Database, make_engine
from schema.tables import NetworkMember, RemoteActor
from schema.tables._base import utcnow
from tests.factories import make_user
from tests.live import LiveInstance, cli_env, free_port

CONCURRENCY = 8
DEADLINE_SECONDS = 600


def _months(count: int) -> list[str]:
    """The last ``count`` whole months, oldest first."""
    today = utcnow().date()
    year, month = today.year, today.month
    found = []
    for _ in range(count):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        found.append(f"{year:04d}-{month:02d}")
    return sorted(found)


def _members(instance: LiveInstance, count: int) -> list[tuple[int, str]]:
    """Create the member associations (keys made now, as in a running instance)."""
    config = load_config(instance.config_path)
    db = Database(make_engine(config.database_url))
    owner = make_user(db)
    made = []
    with db.write() as session:
        for number in range(count):
            association = associations.create_association(
                session, owner=owner, name=f"Association {number}", slug=f"asso{number}"
            )
            assert association.id is not None
            actor_keys.ensure_keys(
                session, config=config, kind="association", owner_id=association.id
            )
            made.append((association.id, association.slug))
    db.dispose()
    return made


def _network(instance: LiveInstance, member_uris: list[str]) -> str:
    """Create the network and its active members; its actor URI."""
    config = load_config(instance.config_path)
    db = Database(make_engine(config.database_url))
    owner = make_user(db)
    with db.write() as session:
        network = associations.create_association(
            session, owner=owner, name="Réseau régional", slug="reseau", is_network=True
        )
        network_setup.set_up_network(session, association=network)
        assert network.id is not None
        for number, uri in enumerate(member_uris):
            session.add(
                NetworkMember(
                    network_id=network.id,
                    actor_uri=uri,
                    name=f"Association {number}",
                    status="active",
                )
            )
    db.dispose()
    return urls.actor_uri(config, "association", "reseau")


def _figures(month: str, rng: random.Random) -> ReportFigures:
    minutes = rng.randrange(600, 20000)
    shown = minutes // 3
    return ReportFigures(
        month=month,
        minutes=minutes,
        actions=rng.randrange(10, 300),
        volunteers=rng.randrange(5, 60),
        categories={"other": minutes - shown, "accueil-animation": shown},
        valued_cents=minutes * 20,
        currency="EUR",
    )


def _requests(
    instance: LiveInstance, members: list[tuple[int, str]], network_uri: str, months: list[str]
) -> tuple[list[tuple[str, bytes, dict[str, str]]], int]:
    """Every signed POST (url, body, headers) made beforehand, and the minutes they state."""
    config = load_config(instance.config_path)
    db = Database(make_engine(config.database_url))
    stand_in = RemoteActor(
        uri=network_uri, host=network_uri.split("/")[2], preferred_username="reseau"
    )
    inbox = network_uri + "/inbox"
    rng = random.Random(7)
    made: list[tuple[str, bytes, dict[str, str]]] = []
    minutes = 0
    with db.read() as session:
        for association_id, slug in members:
            key_id, private = actor_keys.signing_key(
                session, config=config, kind="association", owner_id=association_id
            )
            actor = urls.actor_uri(config, "association", slug)
            for month in months:
                figures = _figures(month, rng)
                minutes += figures.minutes
                document = reports_build.unsigned_object(
                    config, slug=slug, network=stand_in, figures=figures
                )
                signed = reports_build.signed_object(
                    session,
                    config,
                    association_id=association_id,
                    document=document,
                    updated=utcnow(),
                )
                body = json.dumps(
                    reports_build.activity("Create", actor, network_uri, signed)
                ).encode()
                headers = {"Content-Type": "application/activity+json"}
                headers.update(
                    signatures.sign_request("POST", inbox, headers, body, key_id, private, utcnow())
                )
                made.append((inbox, body, headers))
    db.dispose()
    return made, minutes


async def _post_all(requests: list[tuple[str, bytes, dict[str, str]]], url: str | None) -> int:
    """POST every request CONCURRENCY at a time (to ``url`` instead when given); failures."""
    queue = list(reversed(requests))
    failures = 0

    async def lane(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while queue:
            target, body, headers = queue.pop()
            response = await client.post(url or target, content=body, headers=headers)
            failures += response.status_code >= 300

    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(lane(client) for _ in range(CONCURRENCY)))
    return failures


def _counted(database: Path) -> tuple[int, int]:
    """(reports verified and stored, reports stored with a failed proof) in the network."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT proof_status = 'verified', count(*) FROM receivedreport"
            " WHERE NOT deleted GROUP BY 1"
        ).fetchall()
    found = dict(rows)
    return found.get(1, 0), found.get(0, 0)


def _stored_minutes(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute(
            "SELECT coalesce(sum(minutes), 0) FROM receivedreport WHERE NOT deleted"
        ).fetchone()[0]


def _sink_seconds(requests: list[tuple[str, bytes, dict[str, str]]]) -> float:
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-m", "bench.sink", str(port)], env=cli_env())
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/count", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise SystemExit("the sink did not start") from None
                time.sleep(0.1)
        started = time.perf_counter()
        asyncio.run(_post_all(requests, f"http://127.0.0.1:{port}/inbox"))
        return time.perf_counter() - started
    finally:
        sink.kill()
        sink.wait()


def run(scratch: Path, members_count: int, months_count: int) -> str:
    """Seed both instances, send every report, wait until all are taken in; the figures."""
    senders = LiveInstance(scratch / "members")
    network = LiveInstance(scratch / "network")
    for instance in (senders, network):
        instance.write_config()
        instance.cli("migrate")
    members = _members(senders, members_count)
    config = load_config(senders.config_path)
    network_uri = _network(
        network, [urls.actor_uri(config, "association", slug) for _id, slug in members]
    )
    requests, minutes = _requests(senders, members, network_uri, _months(months_count))
    database = network.directory / "benefed.db"
    senders.start()
    network.start()
    try:
        assert network.process is not None
        started = time.perf_counter()
        failures = asyncio.run(_post_all(requests, None))
        accepted = time.perf_counter() - started
        deadline = time.monotonic() + DEADLINE_SECONDS
        verified, refused = _counted(database)
        while verified + refused < len(requests) and time.monotonic() < deadline:
            time.sleep(0.05)
            verified, refused = _counted(database)
        ingested = time.perf_counter() - started
        rss = rss_kib(network.process.pid) / 1024
        stored_minutes = _stored_minutes(database)
    finally:
        network.stop()
        senders.stop()
    bare = _sink_seconds(requests)
    exact = "yes" if stored_minutes == minutes and verified == len(requests) else "NO"
    return (
        f"ingest   {len(requests)} reports from {members_count} members: all answered in "
        f"{accepted:.2f} s ({failures} refused), verified and stored in {ingested:.2f} s "
        f"({len(requests) / ingested:.0f}/s); {verified} verified, {refused} with a failed proof; "
        f"minutes stored = minutes sent: {exact}; network RSS {rss:.0f} MiB\n"
        f"         bare sink, same {len(requests)} POSTs, {CONCURRENCY} at a time: {bare:.2f} s   "
        f"ratio {ingested / bare:.1f}x"
    )


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--months", type=int, default=10)
    options = parser.parse_args()
    print(
        f"Benefed network ingest benchmark, {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="benefed-ingest-") as scratch:
        print(run(Path(scratch), options.members, options.months))


if __name__ == "__main__":
    main()
