"""API: links between my accounts on two instances, and requests to receive my hours.

POST/GET /api/v1/me/links, DELETE /api/v1/me/links/{id}[?erase=true] (204),
GET /api/v1/me/link-requests, POST /api/v1/me/link-requests/{id}/accept and
/refuse (200 with the request). Someone else's link is 404.
"""

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from federation import links
from instance.errors import Invalid
from instance.i18n import _
from schema.tables import Follow, RemoteActor, User
from schema.tables.consolidation import LINK_STATUSES
from web.activitypub._client import federation_client
from web.api.associations import check_body, decode_cursor, encode_cursor, limit_of, unauthorized
from web.auth import current_user
from web.forms import json_view, read_json_object
from web.problems import problem
from web.services import services

ERASE_VALUES = {"true": True, "false": False, "": False}


def status_of(link: Follow) -> str:
    """The API status of a link: pending, active, refused or ended."""
    return LINK_STATUSES.get(link.state, link.state)


def link_json(link: Follow, remote: RemoteActor) -> dict[str, Any]:
    """The shape of one of my links in the API."""
    return {
        "id": link.id,
        "account": links.account_of(remote),
        "status": status_of(link),
        "created": link.created_at.isoformat(),
        "updated": link.updated_at.isoformat(),
    }


def request_json(link: Follow, remote: RemoteActor) -> dict[str, Any]:
    """The shape of a request to receive my hours in the API."""
    return {
        "id": link.id,
        "from": links.account_of(remote),
        "status": status_of(link),
        "created": link.created_at.isoformat(),
    }


def _after(request: Request) -> int | None:
    after = decode_cursor(request)
    if after is not None and (not isinstance(after, int) or isinstance(after, bool)):
        raise Invalid({"cursor": _("This cursor is not valid.")})
    return after


def _page(request: Request, user: User, incoming: bool) -> Response:
    limit = limit_of(request)
    after = _after(request)
    with services(request).db.read() as session:
        lister = links.link_requests if incoming else links.list_links
        rows = lister(session, user=user, after=after, limit=limit + 1)
    page = rows[:limit]
    following = encode_cursor(page[-1][0].id) if len(rows) > limit else None
    shape = request_json if incoming else link_json
    return JSONResponse({"items": [shape(f, r) for f, r in page], "next": following})


def list_links(request: Request) -> Response:
    """GET /api/v1/me/links: my accounts elsewhere, by id, with cursors.

    Each item is {"id", "account": "name@host", "status": pending|active|refused|ended,
    "created", "updated"}.
    """
    user = current_user(request)
    if user is None:
        return unauthorized()
    return _page(request, user, incoming=False)


def _stored(request: Request, link_id: int | None, user: User) -> Response:
    assert link_id is not None
    with services(request).db.read() as session:
        link, remote = links.get_link(session, user=user, link_id=link_id)
    return JSONResponse(link_json(link, remote), status_code=201)


async def create_link(request: Request) -> Response:
    """POST /api/v1/me/links {"account": "name@host"}: ask for a link (201, status pending).

    Needs federation turned on (409 otherwise). An account that cannot be found
    answers 422 at once; asking again for a pending or active link returns it.
    """
    user = current_user(request)
    if user is None:
        return unauthorized()
    try:
        data = await read_json_object(request)
    except HTTPException as error:
        return problem(error.status_code, str(error.detail))
    check_body(data, {"account": str}, required=("account",))
    found = services(request)
    link = await links.request_link(
        found.db, federation_client(request), found.config, user=user, account=data["account"]
    )
    return await run_in_threadpool(_stored, request, link.id, user)


def delete_link(request: Request) -> Response:
    """DELETE /api/v1/me/links/{id}: end the link (Undo sent); 204.

    With ?erase=true the other instance is also asked to delete the summaries it
    sent, and those received here are deleted.
    """
    user = current_user(request)
    if user is None:
        return unauthorized()
    raw = request.query_params.get("erase", "").lower()
    if raw not in ERASE_VALUES:
        raise Invalid({"erase": _("Use true or false.")})
    found = services(request)
    with found.db.write() as session:
        links.end_link(
            session,
            config=found.config,
            user=user,
            link_id=request.path_params["link_id"],
            erase=ERASE_VALUES[raw],
        )
    return Response(status_code=204)


def list_requests(request: Request) -> Response:
    """GET /api/v1/me/link-requests: requests to receive my hours, by id, with cursors.

    Each item is {"id", "from": "name@host", "status", "created"}. Nothing is sent
    about me before I accept one.
    """
    user = current_user(request)
    if user is None:
        return unauthorized()
    return _page(request, user, incoming=True)


def _decide(request: Request, data: dict[str, Any], accepted: bool) -> Response:
    user = current_user(request)
    if user is None:
        return unauthorized()
    check_body(data, {})
    found = services(request)
    decide = links.accept_request if accepted else links.refuse_request
    with found.db.write() as session:
        link = decide(
            session, config=found.config, user=user, link_id=request.path_params["link_id"]
        )
        remote = session.get(RemoteActor, link.remote_actor_id)
    assert remote is not None
    return JSONResponse(request_json(link, remote))


@json_view
def accept_request(request: Request, data: dict[str, Any]) -> Response:
    """POST /api/v1/me/link-requests/{id}/accept: my hours summaries will be sent there.

    200 with the request; 409 when it is no longer pending.
    """
    return _decide(request, data, True)


@json_view
def refuse_request(request: Request, data: dict[str, Any]) -> Response:
    """POST /api/v1/me/link-requests/{id}/refuse: refuse it, or end an active link; 200."""
    return _decide(request, data, False)


REQUEST = "/api/v1/me/link-requests/{link_id:int}"

routes = [
    Route("/api/v1/me/links", list_links, methods=["GET"]),
    Route("/api/v1/me/links", create_link, methods=["POST"]),
    Route("/api/v1/me/links/{link_id:int}", delete_link, methods=["DELETE"]),
    Route("/api/v1/me/link-requests", list_requests, methods=["GET"]),
    Route(REQUEST + "/accept", accept_request, methods=["POST"]),
    Route(REQUEST + "/refuse", refuse_request, methods=["POST"]),
]
