"""GET /users/{username}/summaries: the reconciliation collection, for the person's homes only.

A signed GET whose key belongs to a home actor with an accepted link to the
person gets every summary currently stated about them (federation/summary_collection.py).
Unsigned or unverified requests get 401, other signers 403, an unknown person 404.
"""

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from federation import signed_requests, summary_collection
from schema.tables import RemoteActor
from schema.tables._base import utcnow
from web.activitypub._client import federation_client
from web.activitypub.actors import VARY, activity_json, not_found
from web.activitypub.inbox import incoming
from web.services import services

log = logging.getLogger("benefed.summaries")


def _error(status: int, reason: str) -> Response:
    return JSONResponse({"error": reason}, status_code=status, headers={"Vary": VARY})


def _exists(request: Request, username: str) -> bool:
    found = services(request)
    with found.db.read() as session:
        return summary_collection.find_person(session, found.config, username) is not None


def _answer(request: Request, username: str, reader: RemoteActor) -> Response:
    found = services(request)
    with found.db.read() as session:
        user = summary_collection.find_person(session, found.config, username)
        if user is None or user.id is None:
            return not_found()
        if not summary_collection.may_read(session, user_id=user.id, reader=reader):
            return _error(403, "only the person's linked accounts may read this")
        document = summary_collection.collection_document(session, found.config, user)
    return activity_json(document, headers={"Cache-Control": "no-store"})


async def collection(request: Request) -> Response:
    """The person's current summaries, to a signed GET from one of their homes."""
    found = services(request)
    username = request.path_params["username"]
    if not await run_in_threadpool(_exists, request, username):
        return not_found()
    try:
        reader = await summary_collection.verify_reader(
            found.db,
            federation_client(request),
            found.config,
            incoming(request, b""),
            now=utcnow(),
        )
    except signed_requests.Refused as refused:
        log.info("summaries collection refused (%s): %s", refused.status, refused.reason)
        return _error(refused.status, refused.reason)
    return await run_in_threadpool(_answer, request, username, reader)


routes = [Route("/users/{username}/summaries", collection, methods=["GET"])]
