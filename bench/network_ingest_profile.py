"""Network ingest in process: CPU time to answer and to process signed reports, with cProfile.

Two in-process instances behind tests.federation_support's Router (no sockets):
``m.test`` holds the member associations with their keys, ``n.test`` the network.
The signed POSTs are made beforehand, as in bench.network_ingest; then
(1) every POST is sent to the network's inbox, ``CONCURRENCY`` at a time, worker
off (the actor documents are fetched from m.test through the router, once per
member), and (2) the worker's processing rounds run until every item is handled.
Each phase prints its CPU time (time.process_time) per report; ``--profile``
prints the top of a cProfile of each phase. The baseline: the same POSTs to a
bare Starlette app that only counts them, through the same ASGI transport.

Run: ``python -m bench.network_ingest_profile [--members 100] [--months 10] [--profile]``.
"""

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.network_ingest import _figures, _months
from federation import actor_keys, processing, reports_build, signatures, urls
from instance import associations, network_setup
from schema.tables import InboxItem, NetworkMember, ReceivedReport, RemoteActor
from schema.tables._base import utcnow
from tests.factories import make_user
from tests.federation_support import Instance, Router, make_instance

CONCURRENCY = 8
Post = tuple[str, bytes, dict[str, str]]


def _members(instance: Instance, count: int) -> list[tuple[int, str]]:
    owner = make_user(instance.db)
    made = []
    with instance.db.write() as session:
        for number in range(count):
            association = associations.create_association(
                session, owner=owner, name=f"Association {number}", slug=f"asso{number}"
            )
            assert association.id is not None
            actor_keys.ensure_keys(
                session, config=instance.config, kind="association", owner_id=association.id
            )
            made.append((association.id, association.slug))
    return made


def _network(instance: Instance, member_uris: list[str]) -> str:
    owner = make_user(instance.db)
    with instance.db.write() as session:
        network = associations.create_association(
            session, owner=owner, name="Réseau", slug="reseau", is_network=True
        )
        network_setup.set_up_network(session, association=network)
        assert network.id is not None
        for number, uri in enumerate(member_uris):
            session.add(
                NetworkMember(
                    network_id=network.id, actor_uri=uri, name=f"A {number}", status="active"
                )
            )
    return urls.actor_uri(instance.config, "association", "reseau")


def _posts(
    instance: Instance, members: list[tuple[int, str]], network_uri: str, months: list[str]
) -> list[Post]:
    import random  # noqa: PLC0415  (bench only)

    config = instance.config
    stand_in = RemoteActor(uri=network_uri, host=network_uri.split("/")[2], preferred_username="r")
    inbox = network_uri + "/inbox"
    rng = random.Random(7)
    made: list[Post] = []
    with instance.db.read() as session:
        for association_id, slug in members:
            key_id, private = actor_keys.signing_key(
                session, config=config, kind="association", owner_id=association_id
            )
            actor = urls.actor_uri(config, "association", slug)
            for month in months:
                document = reports_build.unsigned_object(
                    config, slug=slug, network=stand_in, figures=_figures(month, rng)
                )
                signed = reports_build.signed_object(
                    session,
                    config,
                    association_id=association_id,
                    document=document,
                    updated=utcnow(),
                )
                body = json.dumps(reports_build.activity("Create", actor, network_uri, signed))
                headers = {"Content-Type": "application/activity+json"}
                headers.update(
                    signatures.sign_request(
                        "POST", inbox, headers, body.encode(), key_id, private, utcnow()
                    )
                )
                made.append((inbox, body.encode(), headers))
    return made


async def _post_all(client: httpx.AsyncClient, posts: list[Post]) -> int:
    queue = list(reversed(posts))
    failures = 0

    async def lane() -> None:
        nonlocal failures
        while queue:
            url, body, headers = queue.pop()
            response = await client.post(url, content=body, headers=headers)
            failures += response.status_code >= 300

    await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
    return failures


def _bare_app() -> Starlette:
    async def inbox(request: Request) -> Response:
        await request.body()
        return Response(status_code=202)

    return Starlette(routes=[Route("/associations/reseau/inbox", inbox, methods=["POST"])])


def _measured(label: str, profile: bool, call: Callable[[], Any]) -> tuple[float, Any]:
    profiler = cProfile.Profile() if profile else None
    started = time.process_time()
    if profiler is not None:
        profiler.enable()
    result = call()
    if profiler is not None:
        profiler.disable()
    spent = time.process_time() - started
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
        stats.print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
        print(f"--- profile: {label} ---\n{out.getvalue()}")
    return spent, result


async def _inline(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)


async def _process(network: Instance) -> int:
    done = 0
    async with network.client() as client:
        while True:
            found = await processing.process_pending(
                network.db, client, network.config, now=utcnow()
            )
            if not found:
                return done
            done += found


def run(scratch: Path, members_count: int, months_count: int, profile: bool) -> None:
    """Set up both instances, then measure answering and processing."""
    router = Router()
    senders = make_instance(scratch, "m", router)
    network = make_instance(scratch, "n", router)
    members = _members(senders, members_count)
    network_uri = _network(
        network,
        [urls.actor_uri(senders.config, "association", slug) for _id, slug in members],
    )
    posts = _posts(senders, members, network_uri, _months(months_count))
    count = len(posts)

    bare = httpx.AsyncClient(transport=httpx.ASGITransport(app=_bare_app()))
    bare_cpu, _ = _measured("bare", False, lambda: asyncio.run(_post_all(bare, posts)))

    async def answer() -> int:
        async with network.browser() as client:
            return await _post_all(client, posts)

    if profile:
        asyncio.to_thread = _inline  # type: ignore[assignment]
    answer_cpu, failures = _measured("answer", profile, lambda: asyncio.run(answer()))
    if profile:  # cProfile sees the main thread only: run the blocking parts inline
        asyncio.to_thread = _inline  # type: ignore[assignment]
    process_cpu, done = _measured("process", profile, lambda: asyncio.run(_process(network)))
    gets = [r for r in router.log if r.method == "GET"]
    distinct = len({str(r.url) for r in gets})
    print(f"requests through the router: {len(router.log)}, GET {len(gets)} of {distinct} URLs")
    with network.db.read() as session:
        stored = session.exec(
            select(func.count()).where(col(ReceivedReport.proof_status) == "verified")
        ).one()
        left = session.exec(select(func.count()).where(col(InboxItem.processed_at).is_(None))).one()
    print(
        f"{count} reports from {members_count} members, {CONCURRENCY} at a time, in process:\n"
        f"  answer (parse, verify, store; first POST of a member fetches its actor): "
        f"{answer_cpu:.2f} s CPU, {answer_cpu / count * 1000:.2f} ms/report, {failures} refused\n"
        f"  process (worker rounds): {process_cpu:.2f} s CPU, "
        f"{process_cpu / max(done, 1) * 1000:.2f} ms/report, {done} handled, {left} left, "
        f"{stored} verified and stored\n"
        f"  together: {count / (answer_cpu + process_cpu):.0f} reports/s of CPU\n"
        f"  bare Starlette, same POSTs, same transport: {bare_cpu:.2f} s CPU, "
        f"{bare_cpu / count * 1000:.2f} ms/report   ratio {(answer_cpu + process_cpu) / bare_cpu:.1f}x"
    )


def main() -> None:
    """Run and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--months", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="benefed-ingest-profile-") as scratch:
        run(Path(scratch), options.members, options.months, options.profile)


if __name__ == "__main__":
    main()
