"""CPU per statistics request, in process: the page (whole period, partial months) and the API.

Seeds an instance like bench.actions (one association, 200 volunteers, 12
categories, 5 projects, 3 levels, 100,000 actions by default), builds the real
application and drives it with plain ASGI calls, one request after another:
the manager's `/associations/{slug}/stats` over the whole period of the actions
and over "partial months" (from 400 to 45 days before the last day), and
`/api/v1/associations/{slug}/summary?group_by=category` over the whole period
(Bearer token). CPU time is the process's (time.process_time). The requests run
in rounds, the kinds taking turns, and each figure is the cheapest round's: on a
shared machine the other rounds mostly measure the neighbours.

Run: `python -m bench.stats_profile [--requests 500] [--actions 100000] [--profile html|partial|api]`
"""

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio.to_thread
from sqlmodel import func, select

from bench.hello import app as hello_app
from bench.record_profile import Bench, build, call
from bench.seed_actions import SESSION_COOKIE
from instance.periods import month_end
from schema.tables import Action

Request = tuple[str, dict[str, str]]
ROUNDS = 5
LABELS = {
    "hello": "bare Starlette hello",
    "html": "statistics page (whole period)",
    "partial": "statistics page (partial months)",
    "api": "summary API (by category)",
}


def requests_of(bench: Bench) -> dict[str, Request]:
    """The measured requests, by name: path and headers."""
    with bench.db.read() as session:
        first, last = session.exec(select(func.min(Action.date), func.max(Action.date))).one()
    start, end = first.replace(day=1), month_end(last)
    edges = end - timedelta(days=400), end - timedelta(days=45)
    cookie = {"cookie": f"{SESSION_COOKIE}={bench.cookie}"}
    token = {"authorization": f"Bearer {bench.token}"}
    stats = f"/associations/{bench.slug}/stats"
    return {
        "html": (f"{stats}?from={start}&to={end}", cookie),
        "partial": (f"{stats}?from={edges[0]}&to={edges[1]}", cookie),
        "api": (
            f"/api/v1/associations/{bench.slug}/summary?from={start}&to={end}&group_by=category",
            token,
        ),
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

    asyncio.run(run(5))
    profiler = cProfile.Profile() if profile else None
    started = time.process_time()
    if profiler is not None:
        profiler.enable()
    asyncio.run(run(count))
    if profiler is not None:
        profiler.disable()
    cpu = time.process_time() - started
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
    return cpu * 1000 / count


def main() -> None:
    """Print the CPU per statistics request beside the bare hello."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--actions", type=int, default=100_000)
    parser.add_argument("--profile", choices=("html", "partial", "api"), help="cProfile one")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        bench = build(Path(scratch), options.actions)
        requests = requests_of(bench)
        if options.profile:
            anyio.to_thread.run_sync = _inline  # type: ignore[assignment]  # one thread for cProfile
            print(measure(bench.app, requests[options.profile], options.requests, True))
            return
        kinds = {"hello": (hello_app, ("/", {}))}
        kinds.update({name: (bench.app, found) for name, found in requests.items()})
        best = dict.fromkeys(kinds, float("inf"))
        for _round in range(ROUNDS):
            for name, (app, request) in kinds.items():
                cost = measure(app, request, max(1, options.requests // ROUNDS))
                best[name] = min(best[name], cost)
        bench.db.dispose()
    print(f"\nin process, {options.requests:,} requests each, {options.actions:,} seeded actions")
    print(f"{'what':34} {'CPU ms/request':>15} {'ratio':>8}")
    for name, cost in best.items():
        print(f"{LABELS[name]:34} {cost:15.3f} {best['hello'] / cost:7.3f}x")


if __name__ == "__main__":
    main()
