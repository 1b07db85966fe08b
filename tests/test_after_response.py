"""Work left with `later` runs after the response is sent, and its failures stay in the log."""

import logging
import threading
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from web.after_response import AfterResponseMiddleware, later


def _app(events: list[str]) -> Starlette:
    def leave_jobs(request: Request) -> Response:
        later(request, lambda: events.append(f"job in {threading.current_thread().name}"))
        later(request, lambda: 1 / 0)  # fails: logged, the next job still runs
        later(request, lambda: events.append("second job"))
        return PlainTextResponse("done")

    def fails_after_leaving_a_job(request: Request) -> Response:
        later(request, lambda: events.append("job after a failure"))
        raise RuntimeError("the view failed")

    routes = [Route("/", leave_jobs), Route("/fails", fails_after_leaving_a_job)]
    return Starlette(routes=routes, middleware=[Middleware(AfterResponseMiddleware)])


async def _call(app: Starlette, path: str, events: list[str]) -> None:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1234),
        "scheme": "http",
        "http_version": "1.1",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            events.append(f"status {message['status']}")
        elif not message.get("more_body"):
            events.append(f"body {message['body'].decode()}")

    await app(scope, receive, send)


async def test_jobs_run_after_the_whole_response_in_the_thread_pool(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[str] = []
    with caplog.at_level(logging.ERROR, logger="benefed.after_response"):
        await _call(_app(events), "/", events)
    assert events[:2] == ["status 200", "body done"]
    assert events[2].startswith("job in ") and events[2] != f"job in {threading.main_thread().name}"
    assert events[3:] == ["second job"]
    assert "work after the response failed" in caplog.text
    assert "ZeroDivisionError" in caplog.text


async def test_jobs_left_before_the_view_failed_still_run() -> None:
    events: list[str] = []
    with pytest.raises(RuntimeError, match="the view failed"):
        await _call(_app(events), "/fails", events)
    assert "job after a failure" in events


def test_leaving_a_job_without_the_middleware_is_refused() -> None:
    request = Request({"type": "http", "headers": []})
    with pytest.raises(RuntimeError, match="AfterResponseMiddleware is not installed"):
        later(request, lambda: None)
