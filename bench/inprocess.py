"""Shared runner of the in-process profiles: CPU per request through the real app, by plain ASGI calls.

Each kind of request runs in rounds, the kinds taking turns, and each figure is
the cheapest round's: on a shared machine the other rounds mostly measure the
neighbours. CPU time is the process's (time.process_time, so the thread pool's
work counts too); with --profile the views run in the event loop's thread so
cProfile sees one thread.
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

Request = tuple[str, dict[str, str]]


async def _inline(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)


def measure(app: Any, request: Request, count: int, profile: bool = False) -> float:
    """CPU milliseconds per request over `count` GET requests (after a short warm-up)."""
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
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(70)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
    return cpu * 1000 / count


def main(
    description: str,
    labels: dict[str, str],
    requests_of: Callable[[Bench], dict[str, Request]],
    *,
    default_requests: int,
    rounds: int,
) -> None:
    """Parse the command line, seed, and print the CPU per request of each kind beside the hello."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--requests", type=int, default=default_requests)
    parser.add_argument("--actions", type=int, default=100_000)
    kinds = [name for name in labels if name != "hello"]
    parser.add_argument("--profile", choices=kinds, help="cProfile one of them")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        bench = build(Path(scratch), options.actions)
        requests = requests_of(bench)
        if options.profile:
            anyio.to_thread.run_sync = _inline  # type: ignore[assignment]
            print(measure(bench.app, requests[options.profile], options.requests, True))
            return
        apps = {"hello": (hello_app, ("/", {}))}
        apps.update({name: (bench.app, found) for name, found in requests.items()})
        best = dict.fromkeys(apps, float("inf"))
        for _round in range(rounds):
            for name, (app, request) in apps.items():
                cost = measure(app, request, max(1, options.requests // rounds))
                best[name] = min(best[name], cost)
        bench.db.dispose()
    width = max(len(label) for label in labels.values()) + 2
    print(f"\nin process, {options.requests:,} requests each, {options.actions:,} seeded actions")
    print(f"{'what':{width}} {'CPU ms/request':>15} {'ratio':>8}")
    for name, cost in best.items():
        print(f"{labels[name]:{width}} {cost:15.3f} {best['hello'] / cost:7.3f}x")
