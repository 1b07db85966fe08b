"""Inboxes: POST /inbox (shared), /actor/inbox, /associations/{slug}/inbox, /users/{name}/inbox.

Each verifies the sender (federation/verification.py), stores the activity once
and answers 202; processing happens in the worker. Malformed bodies get 400,
unverified requests 401, blocked senders 403, an inbox nobody owns 404; bodies
over the limit got 413 from BodyLimitMiddleware already.
"""

import asyncio
import functools
import logging
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from federation import documents, inbox, signed_requests
from instance.errors import NotFound
from schema.tables._base import utcnow
from web.activitypub._client import federation_client
from web.services import Services, services

log = logging.getLogger("benefed.inbox")
OWNERS_KEY = "inbox_owners"


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


Target = tuple[str, str | None]


def _recipient(found: Services, kind: str, ident: str | None) -> inbox.Recipient:
    """Whose inbox this is; NotFound / ActorGone when there is no such actor here."""
    [result] = _recipients(found, [(kind, ident)])
    if isinstance(result, Exception):
        raise result
    return result


def _recipients(found: Services, targets: list[Target]) -> list[inbox.Recipient | BaseException]:
    """The owners of several inboxes, in one read session (each name looked up once)."""
    known: dict[Target, inbox.Recipient | BaseException] = {}
    for kind, ident in targets:
        if kind in {"shared", "instance"} and not found.config.federation.enabled:
            known[(kind, ident)] = NotFound("Federation is off.")
        elif kind in {"shared", "instance"}:
            known[(kind, ident)] = inbox.Recipient(
                kind="instance" if kind == "instance" else "shared"
            )
    missing = [target for target in dict.fromkeys(targets) if target not in known]
    if missing:
        with found.db.read() as session:
            for kind, ident in missing:
                try:
                    local = documents.find_local_actor(session, found.config, kind, ident)
                except (NotFound, documents.ActorGone) as error:
                    known[(kind, ident)] = error
                else:
                    known[(kind, ident)] = inbox.Recipient(kind=local.kind, owner_id=local.owner_id)
    return [known[target] for target in targets]


def _owners(found: Services) -> inbox.Batcher[Target, inbox.Recipient]:
    """This app's batcher of inbox owner look-ups (concurrent requests share one read)."""
    batcher = found.extras.get(OWNERS_KEY)
    if batcher is None or batcher.loop is not asyncio.get_running_loop():
        batcher = inbox.Batcher(functools.partial(_recipients, found))
        found.extras[OWNERS_KEY] = batcher
    return batcher


def _target(request: Request) -> tuple[str, str | None]:
    params = request.path_params
    if "slug" in params:
        return "association", params["slug"]
    if "username" in params:
        return "user", params["username"]
    if request.url.path == "/actor/inbox":
        return "instance", None
    return "shared", None


def incoming(request: Request, body: bytes) -> signed_requests.IncomingRequest:
    """The framework-free view of the request that verification reads."""
    path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    target = path.decode("latin-1") + (("?" + query.decode("latin-1")) if query else "")
    scheme = urlsplit(services(request).config.base_url).scheme
    return signed_requests.IncomingRequest(
        method=request.method,
        path_with_query=target,
        headers=request.headers,
        body=body,
        scheme=scheme,
    )


async def receive(request: Request) -> Response:
    """Verify, store once, answer 202."""
    found = services(request)
    kind, ident = _target(request)
    try:
        if kind in {"shared", "instance"}:  # no database read: no thread hop
            recipient = _recipient(found, kind, ident)
        else:
            recipient = await _owners(found).submit((kind, ident))
    except NotFound:
        return _error(404, "no such inbox")
    except documents.ActorGone:
        return _error(410, "this actor is gone")
    body = await request.body()
    try:
        await inbox.receive(
            found.db,
            federation_client(request),
            found.config,
            incoming(request, body),
            recipient=recipient,
            now=utcnow(),
        )
    except inbox.BadActivity as error:
        return _error(400, str(error))
    except signed_requests.Refused as refused:
        log.info("inbox refused (%s): %s", refused.status, refused.reason)
        return _error(refused.status, refused.reason)
    return Response(status_code=202)


routes = [
    Route("/inbox", receive, methods=["POST"]),
    Route("/actor/inbox", receive, methods=["POST"]),
    Route("/associations/{slug}/inbox", receive, methods=["POST"]),
    Route("/users/{username}/inbox", receive, methods=["POST"]),
]
