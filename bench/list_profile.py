"""CPU per page of the actions list, in process: HTML, API and a trivial page for the frame.

Seeds an instance like bench.actions (one association, 200 volunteers, 12
categories, 5 projects, 3 levels, 100,000 actions by default), builds the real
application and drives it with plain ASGI calls, one request after another:
the manager's first page of `/associations/{slug}/actions` (session cookie),
`/api/v1/associations/{slug}/actions` (Bearer token), and `/about/terms`
signed in (the page frame and almost nothing else). CPU time is the process's
(time.process_time, so the thread pool's work counts too). The requests run in
rounds, the kinds taking turns, and each figure is the cheapest round's: on a
shared machine the other rounds mostly measure the neighbours.

Run: `python -m bench.list_profile [--requests 1000] [--actions 100000] [--profile html|api|page]`
"""

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread

from bench.hello import app as hello_app
from bench.record_profile import Bench, build, call
from bench.seed_actions import SESSION_COOKIE

Request = tuple[str, dict[str, str]]
ROUNDS = 10
LABELS = {
    "hello": "bare Starlette hello",
    "html": "actions list (HTML)",
    "api": "actions list (API)",
    "page": "/about/terms (frame)",
}


def requests_of(bench: Bench) -> dict[str, Request]:
    """The measured requests, by name: path and headers."""
    cookie = {"cookie": f"{SESSION_COOKIE}={bench.cookie}"}
    token = {"authorization": f"Bearer {bench.token}"}
    return {
        "html": (f"/associations/{bench.slug}/actions", cookie),
        "api": (f"/api/v1/associations/{bench.slug}/actions", token),
        "page": ("/about/terms", cookie),
    }


async def _inline(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)


def measure(app: Any, request: Request, count: int, profile: bool = False) -> float:
    """CPU milliseconds per request over `count` requests (after a short warm-up)."""
    path, headers = request

    async def run(times: int) -> None:
        for _ in range(times):
            answer = await call(app, "GET", path, headers=headers)
            if answer.status != 200:
                raise SystemExit(f"{path}: {answer.status} {answer.body[:500]!r}")

    asyncio.run(run(10))
    profiler = cProfile.Profile() if profile else None
    started = time.process_time()
    if profiler is not None:
        profiler.enable()
    asyncio.run(run(count))
    if profiler is not None:
        profiler.disable()
    cpu = time.process_time() - started
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(70)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
    return cpu * 1000 / count


def run_inline() -> None:
    """Run the views in the event loop's thread from now on: cProfile sees one thread."""
    anyio.to_thread.run_sync = _inline  # type: ignore[assignment]


def main() -> None:
    """Print the CPU per list page (HTML, API) and per trivial page beside the bare hello."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--actions", type=int, default=100_000)
    parser.add_argument("--profile", choices=("html", "api", "page"), help="cProfile one of them")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        if options.profile:
            bench = build(Path(scratch), options.actions)
            run_inline()
            measure(bench.app, requests_of(bench)[options.profile], options.requests, True)
            return
        bench = build(Path(scratch), options.actions)
        kinds = {"hello": (hello_app, ("/", {}))}
        kinds.update({name: (bench.app, found) for name, found in requests_of(bench).items()})
        best = dict.fromkeys(kinds, float("inf"))
        for _round in range(ROUNDS):
            for name, (app, request) in kinds.items():
                cost = measure(app, request, max(1, options.requests // ROUNDS))
                best[name] = min(best[name], cost)
        bench.db.dispose()
    print(f"\nin process, {options.requests:,} requests each, {options.actions:,} seeded actions")
    print(f"{'what':30} {'CPU ms/request':>15} {'ratio':>8}")
    for name, cost in best.items():
        print(f"{LABELS[name]:30} {cost:15.3f} {best['hello'] / cost:7.3f}x")


if __name__ == "__main__":
    main()
