"""The baseline: a bare Starlette "hello" served by the same uvicorn."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


def hello(_request: Request) -> PlainTextResponse:
    """Say hello."""
    return PlainTextResponse("hello")


app = Starlette(routes=[Route("/", hello)])
