"""Work a view leaves for after its response: run in the thread pool once the response is sent.

A view that must send mail (slow, over the network) asks for it here, so the
person who acted is answered first and the view can run on the event loop
(``web.view_runner``). The work runs in the thread pool with the request's
context (its language), after the whole response went out; a failure is logged,
never shown to the person, whose action was already saved.
"""

import logging
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("benefed.after_response")
SCOPE_KEY = "benefed.after_response"


def later(connection: HTTPConnection, job: Callable[[], object]) -> None:
    """Run `job` once this request's response is sent."""
    jobs = connection.scope.get(SCOPE_KEY)
    if jobs is None:
        raise RuntimeError("AfterResponseMiddleware is not installed")
    jobs.append(job)


class AfterResponseMiddleware:
    """Run the jobs views left with `later`, after the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        jobs: list[Callable[[], object]] = []
        scope[SCOPE_KEY] = jobs  # in place, as Starlette's own middleware: views see this scope
        try:
            await self.app(scope, receive, send)
        finally:
            for job in jobs:
                try:
                    await run_in_threadpool(job)
                except Exception:
                    logger.exception("work after the response failed")
