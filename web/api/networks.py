"""API: a network's profile, reference categories, requests to join and members.

Decisions on requests go through federation/network_requests.py, which
changes the member's status and answers the association over ActivityPub
(Accept, or Reject for a refusal and for the end of a membership).
"""

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from federation import network_requests
from federation.urls import actor_uri
from instance import network_members, networks
from instance.errors import Invalid
from instance.i18n import _
from instance.network_setup import LICENCES
from schema.tables import Association, Membership, NetworkMember, ReferenceCategory, User
from web.api.associations import decode_cursor, encode_cursor, limit_of, unauthorized
from web.auth import current_user
from web.forms import json_view
from web.services import services


def check_fields(
    data: dict[str, Any], known: tuple[str, ...], required: tuple[str, ...] = ()
) -> None:
    """Raise Invalid naming unknown and missing fields (the domain checks the values)."""
    errors = {key: _("Unknown field.") for key in data if key not in known}
    errors |= {key: _("This field is required.") for key in required if key not in data}
    if "archived" in data and not isinstance(data["archived"], bool):
        errors["archived"] = _("Expected true or false.")
    if errors:
        raise Invalid(errors)


def load_network(request: Request, user: User | None) -> tuple[Association, Membership | None]:
    """The network of the path and the caller's membership; 404 when hidden or not a network."""
    with services(request).db.read() as session:
        return networks.get_network(session, request.path_params["slug"], user)


def category_json(category: ReferenceCategory) -> dict[str, Any]:
    """A reference category in the API."""
    return {
        "key": category.key,
        "label": category.label,
        "position": category.position,
        "archived": category.archived,
    }


def network_json(request: Request, network: Association) -> dict[str, Any]:
    """The public shape of a network: threshold, licence and reference categories."""
    config = services(request).config
    with services(request).db.read() as session:
        profile = networks.profile_of(session, network)
        categories = networks.list_categories(session, network=network, archived=None)
        count = network_members.members_count(session, network)
    licence = networks.licence_of(profile)
    base = config.base_url.rstrip("/")
    return {
        "slug": network.slug,
        "name": network.name,
        "actor": actor_uri(config, "association", network.slug),
        "url": f"{base}/associations/{network.slug}/network",
        "threshold": profile.threshold,
        "licence": {"id": licence.id, "name": licence.name, "url": licence.url},
        "licences": sorted(LICENCES),
        "members_count": count,
        "categories": [category_json(category) for category in categories],
        "open_data": f"{base}/api/v1/networks/{network.slug}/open-data.json",
    }


def get_network(request: Request) -> Response:
    """GET /api/v1/networks/{slug}: threshold, licence and reference categories (public)."""
    network, _membership = load_network(request, current_user(request))
    return JSONResponse(network_json(request, network))


@json_view
def patch_network(request: Request, data: dict[str, Any]) -> Response:
    """PATCH /api/v1/networks/{slug} {"threshold"?, "licence"?} (manage_settings)."""
    user = current_user(request)
    if user is None:
        return unauthorized()
    network, membership = load_network(request, user)
    networks.require(user, membership, "manage_settings")
    check_fields(data, ("threshold", "licence"))
    with services(request).db.write() as session:
        networks.update_profile(
            session,
            network=network,
            by=user,
            threshold=data.get("threshold"),
            licence=data.get("licence"),
        )
    return JSONResponse(network_json(request, network))


def list_categories(request: Request) -> Response:
    """GET /api/v1/networks/{slug}/categories: every reference category, archived ones too."""
    network, _membership = load_network(request, current_user(request))
    with services(request).db.read() as session:
        found = networks.list_categories(session, network=network, archived=None)
    return JSONResponse({"items": [category_json(c) for c in found], "next": None})


def _manager(request: Request, permission: str) -> tuple[Association, User] | Response:
    user = current_user(request)
    if user is None:
        return unauthorized()
    network, membership = load_network(request, user)
    networks.require(user, membership, permission)
    return network, user


@json_view
def add_category(request: Request, data: dict[str, Any]) -> Response:
    """POST /api/v1/networks/{slug}/categories {"label", "key"?}: 201 (manage_settings)."""
    found = _manager(request, "manage_settings")
    if isinstance(found, Response):
        return found
    network, user = found
    check_fields(data, ("label", "key"), required=("label",))
    with services(request).db.write() as session:
        category = networks.add_category(
            session, network=network, by=user, label=data["label"], key=data.get("key")
        )
    return JSONResponse(category_json(category), status_code=201)


def _position(data: dict[str, Any]) -> int | None:
    value = data.get("position")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1000:
        raise Invalid({"position": _("Enter a whole number from 0 to 1000.")})
    return value


@json_view
def patch_category(request: Request, data: dict[str, Any]) -> Response:
    """PATCH .../categories/{key} {"label"?, "position"?, "archived"?} (manage_settings)."""
    found = _manager(request, "manage_settings")
    if isinstance(found, Response):
        return found
    network, user = found
    check_fields(data, ("label", "position", "archived"))
    position = _position(data)
    with services(request).db.write() as session:
        category = networks.get_category(session, network=network, key=request.path_params["key"])
        if "label" in data:
            networks.rename_category(
                session, network=network, by=user, category=category, label=data["label"]
            )
        if "archived" in data:
            networks.archive_category(
                session, network=network, by=user, category=category, archived=data["archived"]
            )
        if position is not None:
            networks.place_category(
                session, network=network, by=user, category=category, position=position
            )
    return JSONResponse(category_json(category))


def archive_category(request: Request) -> Response:
    """DELETE .../categories/{key}: archive it (past reports keep it); never "other"."""
    found = _manager(request, "manage_settings")
    if isinstance(found, Response):
        return found
    network, user = found
    with services(request).db.write() as session:
        category = networks.get_category(session, network=network, key=request.path_params["key"])
        networks.archive_category(session, network=network, by=user, category=category)
    return Response(status_code=204)


def request_json(member: NetworkMember) -> dict[str, Any]:
    """A request to join (or a member) as the network's managers see it."""
    return {
        "id": member.id,
        "from": member.actor_uri,
        "status": member.status,
        "name": network_members.display_name(member),
        "created": member.created_at.isoformat(),
        "anonymous": member.anonymous,
        "is_network": member.is_network,
    }


def public_member_json(member: NetworkMember) -> dict[str, Any]:
    """A member in the public listing: no name, host or actor when it asked anonymity."""
    hidden = member.anonymous
    return {
        "id": member.id,
        "name": network_members.public_name(member),
        "anonymous": hidden,
        "host": None if hidden else network_members.host_of(member),
        "actor": None if hidden else member.actor_uri,
        "is_network": member.is_network,
    }


def _after(request: Request) -> int | None:
    after = decode_cursor(request)
    if after is not None and (not isinstance(after, int) or isinstance(after, bool)):
        raise Invalid({"cursor": _("This cursor is not valid.")})
    return after


def _page(request: Request, network: Association, status: str) -> tuple[list[NetworkMember], Any]:
    limit = limit_of(request)
    after = _after(request)
    with services(request).db.read() as session:
        rows = network_members.list_members(
            session, network=network, status=status, after=after, limit=limit + 1
        )
    page = rows[:limit]
    return page, encode_cursor(page[-1].id) if len(rows) > limit else None


def list_requests(request: Request) -> Response:
    """GET /api/v1/networks/{slug}/requests: pending requests (?status=), by id (manage_members)."""
    found = _manager(request, "manage_members")
    if isinstance(found, Response):
        return found
    network, _user = found
    status = network_members.check_status(request.query_params.get("status", "pending")[:16])
    page, following = _page(request, network, status)
    return JSONResponse({"items": [request_json(m) for m in page], "next": following})


def list_members(request: Request) -> Response:
    """GET /api/v1/networks/{slug}/members: the active members, public (anonymous unnamed)."""
    network, _membership = load_network(request, current_user(request))
    page, following = _page(request, network, "active")
    return JSONResponse({"items": [public_member_json(m) for m in page], "next": following})


def _decide(request: Request, data: dict[str, Any], decision: str, member_id: int) -> Response:
    found = _manager(request, "manage_members")
    if isinstance(found, Response):
        return found
    network, user = found
    check_fields(data, ())
    config = services(request).config
    with services(request).db.write() as session:
        member = network_members.get_member(session, network=network, member_id=member_id)
        network_requests.decide(
            session, config=config, network=network, member=member, by=user, decision=decision
        )
    if decision == "remove":
        return Response(status_code=204)
    return JSONResponse(request_json(member))


@json_view
def accept_network_request(request: Request, data: dict[str, Any]) -> Response:
    """POST .../requests/{id}/accept: 200 with the member; 409 unless pending."""
    return _decide(request, data, "accept", request.path_params["request_id"])


@json_view
def refuse_network_request(request: Request, data: dict[str, Any]) -> Response:
    """POST .../requests/{id}/refuse: 200 with the request; 409 unless pending."""
    return _decide(request, data, "refuse", request.path_params["request_id"])


def remove_network_member(request: Request) -> Response:
    """DELETE /api/v1/networks/{slug}/members/{id}: end the membership (its reports stay); 204."""
    return _decide(request, {}, "remove", request.path_params["network_member_id"])


BASE = "/api/v1/networks/{slug}"

routes: list[BaseRoute] = [
    Route(BASE, get_network, methods=["GET"]),
    Route(BASE, patch_network, methods=["PATCH"]),
    Route(BASE + "/categories", list_categories, methods=["GET"]),
    Route(BASE + "/categories", add_category, methods=["POST"]),
    Route(BASE + "/categories/{key}", patch_category, methods=["PATCH"]),
    Route(BASE + "/categories/{key}", archive_category, methods=["DELETE"]),
    Route(BASE + "/requests", list_requests, methods=["GET"]),
    Route(BASE + "/requests/{request_id:int}/accept", accept_network_request, methods=["POST"]),
    Route(BASE + "/requests/{request_id:int}/refuse", refuse_network_request, methods=["POST"]),
    Route(BASE + "/members", list_members, methods=["GET"]),
    Route(BASE + "/members/{network_member_id:int}", remove_network_member, methods=["DELETE"]),
]
