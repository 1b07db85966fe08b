"""Network dashboard in process: CPU time per request of the page and the API, with cProfile.

Seeds an in-process instance like bench.network_dashboard (1,000 members x 60
months by default), signs the owner in through the login form, then requests
each endpoint ``--repeat`` times through httpx's ASGI transport (no sockets) and
prints its CPU time per request (time.process_time), beside a bare Starlette
hello through the same transport. ``--profile PATH`` profiles the page only.

Run: ``python -m bench.network_dashboard_profile [--members 1000] [--months 60] [--repeat 20]``.
"""

import argparse
import asyncio
import cProfile
import io
import pstats
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bench.network_dashboard import OWNER, PASSWORD, Seeded, seed
from tests.federation_support import Instance, Router, make_instance


async def _inline(function: Callable[..., Any], *args: Any, **_options: Any) -> Any:
    return function(*args)


async def _sign_in(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None
    answer = await client.post(
        "/login", data={"login": OWNER, "password": PASSWORD, "csrf_token": match.group(1)}
    )
    assert answer.status_code == 303, answer.status_code


def _paths(seeded: Seeded) -> list[tuple[str, str, dict[str, str]]]:
    period = f"from={seeded.first}&to={seeded.last}"
    api = f"/api/v1/networks/{seeded.slug}"
    bearer = {"Authorization": f"Bearer {seeded.token}"}
    found = [
        ("dashboard page (HTML)", f"/associations/{seeded.slug}/network/dashboard?{period}", {})
    ]
    for group in ("month", "member", "category"):
        found.append(
            (f"dashboard by {group} (API)", f"{api}/dashboard?{period}&group_by={group}", bearer)
        )
    found.append(("open data (public JSON)", f"{api}/open-data.json", {}))
    return found


async def _cpu_per_request(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], repeat: int
) -> float:
    answer = await client.get(path, headers=headers)  # warm up
    assert answer.status_code == 200, (path, answer.status_code)
    started = time.process_time()
    for _ in range(repeat):
        await client.get(path, headers=headers)
    return (time.process_time() - started) / repeat * 1000


async def _measure(instance: Instance, seeded: Seeded, repeat: int, profile: Path | None) -> None:
    hello = Starlette(routes=[Route("/", lambda _r: PlainTextResponse("hello"))])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=hello), base_url="http://hello"
    ) as bare:
        bare_ms = await _cpu_per_request(bare, "/", {}, repeat * 5)
    async with instance.browser() as client:
        await _sign_in(client)
        for label, path, headers in _paths(seeded):
            ms = await _cpu_per_request(client, path, headers, repeat)
            print(
                f"  {label:28} {ms:8.2f} ms CPU/request   bare hello {bare_ms:.2f} ms   ratio {ms / bare_ms:.0f}x"
            )
        if profile is not None:
            label, path, headers = _paths(seeded)[0]
            anyio.to_thread.run_sync = _inline  # type: ignore[assignment]  # cProfile: one thread
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(repeat):
                await client.get(path, headers=headers)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(60)
            stats.sort_stats("tottime").print_stats(30)
            profile.write_text(out.getvalue())


def main() -> None:
    """Seed, measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--profile", type=Path, default=None)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="benefed-dashboard-profile-") as scratch:
        instance = make_instance(Path(scratch), "n", Router())
        seeded = seed(instance.config.database_url, options.members, options.months)
        print(
            f"{seeded.reports} reports of {options.members} members x {options.months} months, "
            f"in process, {options.repeat} requests each:"
        )
        asyncio.run(_measure(instance, seeded, options.repeat, options.profile))


if __name__ == "__main__":
    main()
