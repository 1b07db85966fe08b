"""Where a synchronous view runs: on the event loop, or in the thread pool.

Starlette runs every synchronous endpoint in its thread pool. With PostgreSQL
that is what a view needs: each statement waits on the network, and other
requests go on meanwhile. With SQLite a statement runs in this process and only
uses the CPU, so a thread gains nothing: it adds two thread switches to every
request and a contest for the GIL between the event loop and the pool (measured:
~0.3 ms of CPU on a recording that costs 1.3 ms, a third of the throughput at four
clients; see docs/benchmarks.md, "Seventh pass").

Views marked ``on_loop`` run straight on the event loop when the database is
SQLite. Mark only views whose work is the database and rendering: no mail (leave
it to ``web.after_response``), no password hash, no outbound request, nothing
that reads a whole table. Such a view may wait on the event loop for the writers'
turn while another worker process writes (a write holds it well under a
millisecond); every other view keeps the thread pool.
"""

import inspect
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, Concatenate, ParamSpec

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from web.services import services

P = ParamSpec("P")


def on_loop(
    view: Callable[Concatenate[Request, P], Response],
) -> Callable[Concatenate[Request, P], Awaitable[Response]]:
    """Run this view on the event loop with SQLite, in the thread pool otherwise."""

    @wraps(view)
    async def endpoint(request: Request, *args: P.args, **kwargs: P.kwargs) -> Response:
        if services(request).db.runs_in_process:
            return view(request, *args, **kwargs)
        return await run_in_threadpool(view, request, *args, **kwargs)

    return endpoint


async def run_view(view: Callable[..., Any], request: Request, *args: Any) -> Response:
    """Call a view: awaited when it is asynchronous (``on_loop``), else in the thread pool."""
    if inspect.iscoroutinefunction(view):
        response: Response = await view(request, *args)
        return response
    return await run_in_threadpool(view, request, *args)
