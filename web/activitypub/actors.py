"""ActivityPub documents of our actors, their collections and public notes.

``/actor`` and ``/users/{username}`` always answer ActivityPub JSON. The shared
URLs (``/associations/{slug}`` and its notes) answer JSON only through
web/negotiation.py when the client asks for ActivityPub; browsers get HTML.
Handlers never raise: they answer 404 / 410 themselves, so the negotiation
middleware can call them outside the app's exception handlers.
"""

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from federation import actor_keys
from federation.documents import (
    ActorGone,
    LocalActor,
    actor_document,
    collection_document,
    find_local_actor,
    find_note,
    follow_count,
    note_document,
    outbox_document,
    tombstone_document,
)
from federation.urls import followers_uri, following_uri
from instance.errors import NotFound
from web.services import services

AP_MEDIA_TYPE = "application/activity+json"
VARY = "Accept, Signature"
MAX_PAGE = 10_000


def activity_json(
    document: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response as application/activity+json, varying on Accept and Signature."""
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    found = {"Vary": VARY, **(headers or {})}
    return Response(body, status_code=status, media_type=AP_MEDIA_TYPE, headers=found)


def not_found(detail: str = "Not found") -> Response:
    """The 404 of an actor route (JSON, never saying more than "not found")."""
    body = {"type": "about:blank", "title": "Not found", "status": 404, "detail": detail}
    return Response(
        json.dumps(body),
        status_code=404,
        media_type="application/problem+json",
        headers={"Vary": VARY},
    )


def _target(request: Request) -> tuple[str, str | None]:
    params = request.path_params
    if "slug" in params:
        return "association", params["slug"]
    if "username" in params:
        return "user", params["username"]
    return "instance", None


def _ensure_keys(request: Request, actor: LocalActor) -> None:
    """Create the actor's keys the first time its document is asked for."""
    found = services(request)
    with found.db.read() as session:
        if actor_keys.current_key_ids(session, actor.kind, actor.owner_id):
            return
    with found.db.write() as session:
        actor_keys.ensure_keys(
            session, config=found.config, kind=actor.kind, owner_id=actor.owner_id
        )


def _answer(request: Request, build: Callable[[Any, LocalActor], dict[str, Any]]) -> Response:
    """Find the actor of the URL, then answer build(session, actor); 404 and 410 handled."""
    found = services(request)
    kind, ident = _target(request)
    try:
        with found.db.read() as session:
            actor = find_local_actor(session, found.config, kind, ident)
            return activity_json(build(session, actor))
    except NotFound as error:
        return not_found(error.message)
    except ActorGone as gone:
        return activity_json(tombstone_document(gone), status=410)


def actor(request: Request) -> Response:
    """The actor document (instance, association or person)."""
    found = services(request)
    kind, ident = _target(request)
    try:
        with found.db.read() as session:
            local = find_local_actor(session, found.config, kind, ident)
        _ensure_keys(request, local)
    except NotFound as error:
        return not_found(error.message)
    except ActorGone as gone:
        return activity_json(tombstone_document(gone), status=410)
    return _answer(
        request, lambda session, _actor: actor_document(session, found.config, kind, ident)
    )


def outbox(request: Request) -> Response:
    """The outbox: the collection's total, or one page (?page=N) of public Create{Note}."""
    raw = request.query_params.get("page")
    page: int | None = None
    if raw is not None:
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
            return not_found("No such page.")
        page = int(raw)
    config = services(request).config
    return _answer(request, lambda session, found: outbox_document(session, config, found, page))


def followers(request: Request) -> Response:
    """The followers collection: its total only."""
    config = services(request).config

    def build(session: Any, found: LocalActor) -> dict[str, Any]:
        uri = followers_uri(config, found.kind, found.ident)
        return collection_document(uri, follow_count(session, found, "in"))

    return _answer(request, build)


def following(request: Request) -> Response:
    """The following collection: its total only."""
    config = services(request).config

    def build(session: Any, found: LocalActor) -> dict[str, Any]:
        uri = following_uri(config, found.kind, found.ident)
        return collection_document(uri, follow_count(session, found, "out"))

    return _answer(request, build)


def note(request: Request) -> Response:
    """A public note of an association, as a Note."""
    config = services(request).config
    note_id = request.path_params["note_id"]

    def build(session: Any, found: LocalActor) -> dict[str, Any]:
        if found.association is None:
            raise NotFound("No such note.")
        return note_document(
            config, found.association, find_note(session, found.association, note_id)
        )

    return _answer(request, build)


#: Served as ActivityPub JSON only when asked for (web/negotiation.py): the same URLs give HTML.
negotiated_routes = [
    Route("/associations/{slug}", actor, methods=["GET", "HEAD"]),
    Route("/associations/{slug}/notes/{note_id:int}", note, methods=["GET", "HEAD"]),
]

routes = [
    Route("/actor", actor, methods=["GET", "HEAD"]),
    Route("/actor/outbox", outbox, methods=["GET", "HEAD"]),
    Route("/actor/followers", followers, methods=["GET", "HEAD"]),
    Route("/actor/following", following, methods=["GET", "HEAD"]),
    Route("/users/{username}", actor, methods=["GET", "HEAD"]),
    Route("/users/{username}/outbox", outbox, methods=["GET", "HEAD"]),
    Route("/users/{username}/followers", followers, methods=["GET", "HEAD"]),
    Route("/users/{username}/following", following, methods=["GET", "HEAD"]),
    Route("/associations/{slug}/outbox", outbox, methods=["GET", "HEAD"]),
    Route("/associations/{slug}/followers", followers, methods=["GET", "HEAD"]),
    Route("/associations/{slug}/following", following, methods=["GET", "HEAD"]),
]
