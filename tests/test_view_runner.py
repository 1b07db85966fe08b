"""on_loop views run on the event loop with SQLite and in the thread pool otherwise."""

import threading
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from schema.db import Database, make_engine
from web.forms import form_view, json_view
from web.view_runner import on_loop


def _thread_of(request: Request, *_args: object) -> Response:
    return PlainTextResponse(str(threading.get_ident()))


@on_loop
def marked(request: Request) -> Response:
    return _thread_of(request)


def unmarked(request: Request) -> Response:
    return _thread_of(request)


@form_view
@on_loop
def marked_form(request: Request, form: FormData | None) -> Response:
    return _thread_of(request)


@json_view
@on_loop
def marked_json(request: Request, data: dict[str, object]) -> Response:
    return PlainTextResponse(f"{threading.get_ident()} {sorted(data)}")


async def loop_thread(_request: Request) -> Response:
    return PlainTextResponse(str(threading.get_ident()))


@pytest.fixture(params=["sqlite", "network"])
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A database whose statements run in process (SQLite), or one that says they do not."""
    db = Database(make_engine("sqlite://"))
    if request.param == "network":  # as with PostgreSQL, whose engine needs a server
        db.runs_in_process = False
    yield db
    db.dispose()


def _app(db: Database) -> Starlette:
    app = Starlette(
        routes=[
            Route("/loop", loop_thread),
            Route("/marked", marked),
            Route("/unmarked", unmarked),
            Route("/form", marked_form, methods=["GET"]),
            Route("/json", marked_json, methods=["POST"]),
        ]
    )
    app.state.services = SimpleNamespace(db=db)
    return app


async def test_marked_views_run_on_the_loop_only_when_the_database_runs_in_process(
    database: Database,
) -> None:
    transport = httpx.ASGITransport(app=_app(database))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        loop = (await client.get("/loop")).text
        marked_thread = (await client.get("/marked")).text
        form_thread = (await client.get("/form")).text
        json_answer = await client.post("/json", json={"b": 1, "a": 2})
        unmarked_thread = (await client.get("/unmarked")).text
    json_thread, keys = json_answer.text.split(" ", 1)
    assert keys == "['a', 'b']"  # the wrapped view got the parsed body
    on_loop_expected = database.runs_in_process
    for thread in (marked_thread, form_thread, json_thread):
        assert (thread == loop) is on_loop_expected
    assert unmarked_thread != loop  # Starlette's thread pool, whatever the database


def test_the_flag_follows_the_dialect() -> None:
    db = Database(make_engine("sqlite://"))
    try:
        assert db.runs_in_process
    finally:
        db.dispose()
    network = make_engine("postgresql://nobody@127.0.0.1:1/none")  # never connected
    assert not Database(network).runs_in_process
