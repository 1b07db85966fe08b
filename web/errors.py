"""Error pages and problem details, chosen by where the request went."""

import logging
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from instance.errors import DomainError
from instance.i18n import _
from web.problems import problem, problem_from_error
from web.templating import render

log = logging.getLogger("benefed.errors")

MESSAGES = {
    400: "The request could not be understood.",
    403: "You are not allowed to see this page.",
    404: "This page does not exist, or is not visible to you.",
    405: "This address does not accept this kind of request.",
    413: "What you sent is too large.",
    429: "Too many attempts. Wait a few minutes and try again.",
    500: "Something went wrong on our side. Try again in a moment.",
}


def wants_json(request: Request) -> bool:
    """True for the API and for clients that ask for JSON."""
    if request.url.path.startswith(("/api/", "/.well-known/", "/nodeinfo/")):
        return True
    accept = request.headers.get("accept", "")
    return "json" in accept and "text/html" not in accept


def error_page(request: Request, status: int, detail: str | None = None) -> Response:
    """The HTML page for an error status."""
    message = detail or MESSAGES.get(status, MESSAGES[400])
    return render(request, "error.html", {"status": status, "message": _(message)}, status=status)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's HTTP errors (404, 405, 403 from CSRF...)."""
    assert isinstance(exc, HTTPException)
    detail = exc.detail if exc.detail and exc.detail != _default_phrase(exc.status_code) else None
    if wants_json(request):
        return problem(exc.status_code, detail, headers=exc.headers)
    return error_page(request, exc.status_code, detail)


def _default_phrase(status: int) -> str:
    return HTTPStatus(status).phrase


async def domain_error(request: Request, exc: Exception) -> Response:
    """A domain rule refused the request."""
    assert isinstance(exc, DomainError)
    if wants_json(request):
        return problem_from_error(exc)
    return error_page(request, exc.status, exc.message)


async def server_error(request: Request, exc: Exception) -> Response:
    """Anything unexpected: logged with its traceback, answered 500."""
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    if wants_json(request):
        return problem(500)
    return error_page(request, 500)
