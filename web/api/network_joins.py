"""API: an association's memberships of networks (asking to join, leaving, the mapping).

POST/GET /api/v1/associations/{slug}/networks, DELETE
/api/v1/associations/{slug}/networks/{name@host}[?erase=true] (204), GET/PUT
/api/v1/associations/{slug}/networks/{name@host}/mapping. Managers who may
change the association's settings only.
"""

from typing import Any

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from federation import network_joins
from instance import associations, network_links
from instance.config import Config
from instance.errors import Invalid
from instance.i18n import _
from instance.network_privacy import OTHER
from schema.tables import Association, NetworkLink, User
from web.activitypub._client import federation_client
from web.api.associations import check_body, decode_cursor, encode_cursor, limit_of, unauthorized
from web.auth import current_user
from web.forms import json_view, read_json_object
from web.problems import problem
from web.services import services

ERASE_VALUES = {"true": True, "false": False, "": False}


def managed(request: Request, user: User) -> Association:
    """The association of the path, for a manager who may change its settings."""
    with services(request).db.read() as session:
        association, membership = associations.get_visible(
            session, request.path_params["slug"], user
        )
    associations.require_permission(user, membership, "manage_settings")
    return association


def link_json(session: Session, config: Config, link: NetworkLink) -> dict[str, Any]:
    """One membership of a network in the API."""
    return {
        "id": link.id,
        "network": network_links.handle_of(session, config, link),
        "name": network_links.name_of(session, config, link),
        "actor": link.network_uri,
        "status": link.status,
        "anonymous": link.anonymous,
        "created": link.created_at.isoformat(),
        "updated": link.updated_at.isoformat(),
    }


def _created(
    request: Request,
    association: Association,
    user: User,
    target: network_joins.Target,
    anonymous: bool,
) -> Response:
    found = services(request)
    with found.db.write() as session:
        row = session.get(Association, association.id)
        assert row is not None
        link = network_joins.request_join(
            session,
            config=found.config,
            association=row,
            by=user,
            target=target,
            anonymous=anonymous,
        )
        body = link_json(session, found.config, link)
    return JSONResponse(body, status_code=201)


async def join_network(request: Request) -> Response:
    """POST .../networks {"network": "name@host", "anonymous"?: bool}: ask to join (201).

    A handle that cannot be found, or an actor that is not a network, answers
    422 at once; asking again while pending or a member answers 422.
    """
    user = current_user(request)
    if user is None:
        return unauthorized()
    try:
        data = await read_json_object(request)
    except HTTPException as error:
        return problem(error.status_code, str(error.detail))
    association = await run_in_threadpool(managed, request, user)
    check_body(data, {"network": str, "anonymous": bool}, required=("network",))
    found = services(request)
    target = await network_joins.resolve(
        found.db, federation_client(request), found.config, data["network"]
    )
    anonymous = bool(data.get("anonymous", False))
    return await run_in_threadpool(_created, request, association, user, target, anonymous)


def _after(request: Request) -> int | None:
    after = decode_cursor(request)
    if after is not None and (not isinstance(after, int) or isinstance(after, bool)):
        raise Invalid({"cursor": _("This cursor is not valid.")})
    return after


def list_networks(request: Request) -> Response:
    """GET .../networks: the networks it joined or asked to join (every status), by id."""
    user = current_user(request)
    if user is None:
        return unauthorized()
    association = managed(request, user)
    limit = limit_of(request)
    after = _after(request)
    found = services(request)
    with found.db.read() as session:
        rows = network_links.list_links(
            session, association=association, after=after, limit=limit + 1
        )
        page = rows[:limit]
        items = [link_json(session, found.config, link) for link in page]
    following = encode_cursor(page[-1].id) if len(rows) > limit else None
    return JSONResponse({"items": items, "next": following})


def _link(
    request: Request, session: Session, config: Config, association: Association
) -> NetworkLink:
    """The association's membership named by the path's network handle (NotFound otherwise)."""
    return network_links.get_by_handle(
        session, config=config, association=association, handle=request.path_params["name"]
    )


def leave_network(request: Request) -> Response:
    """DELETE .../networks/{name@host}: leave (Undo sent); ?erase=true: its reports deleted."""
    user = current_user(request)
    if user is None:
        return unauthorized()
    association = managed(request, user)
    raw = request.query_params.get("erase", "").lower()
    if raw not in ERASE_VALUES:
        raise Invalid({"erase": _("Use true or false.")})
    found = services(request)
    with found.db.write() as session:
        link = _link(request, session, found.config, association)
        network_joins.leave(
            session,
            config=found.config,
            association=association,
            by=user,
            link=link,
            erase=ERASE_VALUES[raw],
        )
    return Response(status_code=204)


def mapping_json(
    session: Session, config: Config, association: Association, link: NetworkLink
) -> dict[str, Any]:
    """The mapping of every own category, and the network's reference list ("other" last)."""
    terms = network_joins.terms_for(session, config, link)
    rows = network_links.mapping_rows(session, link=link, association=association)
    categories = [{"key": key, "name": name} for key, name in terms.categories.items()]
    return {
        "network": network_links.handle_of(session, config, link),
        "mapping": {str(row["id"]): row["key"] for row in rows},
        "categories": [*categories, {"key": OTHER, "name": _("Other")}],
    }


def get_mapping(request: Request) -> Response:
    """GET .../networks/{name@host}/mapping: {"mapping": {category id: key}, "categories"}."""
    user = current_user(request)
    if user is None:
        return unauthorized()
    association = managed(request, user)
    found = services(request)
    with found.db.read() as session:
        link = _link(request, session, found.config, association)
        body = mapping_json(session, found.config, association, link)
    return JSONResponse(body)


@json_view
def put_mapping(request: Request, data: dict[str, Any]) -> Response:
    """PUT .../networks/{name@host}/mapping {"mapping": {category id: key}}: unlisted ones "other"."""
    user = current_user(request)
    if user is None:
        return unauthorized()
    association = managed(request, user)
    found = services(request)
    with found.db.write() as session:
        link = _link(request, session, found.config, association)
        check_body(data, {"mapping": dict}, required=("mapping",))
        network_joins.set_mapping(
            session,
            config=found.config,
            association=association,
            by=user,
            link=link,
            mapping=data["mapping"],
        )
        body = mapping_json(session, found.config, association, link)
    return JSONResponse(body)


BASE = "/api/v1/associations/{slug}/networks"

routes: list[BaseRoute] = [
    Route(BASE, join_network, methods=["POST"]),
    Route(BASE, list_networks, methods=["GET"]),
    Route(BASE + "/{name}", leave_network, methods=["DELETE"]),
    Route(BASE + "/{name}/mapping", get_mapping, methods=["GET"]),
    Route(BASE + "/{name}/mapping", put_mapping, methods=["PUT"]),
]
