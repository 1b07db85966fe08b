"""API: associations (directory, creation, settings, joining and leaving)."""

import base64
import binascii
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from instance import associations, logos, membership_mails, memberships
from instance.errors import Conflict, Forbidden, Invalid
from instance.i18n import _
from schema.tables import Association, User
from web.auth import current_user
from web.forms import json_view
from web.problems import problem
from web.services import services

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
TYPE_NAMES = {bool: "true or false", str: "a string", dict: "an object"}


def unauthorized() -> Response:
    """401 problem details for calls without a valid token."""
    return problem(
        401,
        _("Send a valid token in an Authorization: Bearer header."),
        headers={"WWW-Authenticate": "Bearer"},
    )


def check_body(
    data: dict[str, Any], fields: dict[str, type], required: tuple[str, ...] = ()
) -> None:
    """Raise Invalid naming each unknown field, wrongly typed field or missing field."""
    errors: dict[str, str] = {}
    for key in data:
        if key not in fields:
            errors[key] = _("Unknown field.")
    for key, kind in fields.items():
        if key not in data:
            if key in required:
                errors[key] = _("This field is required.")
            continue
        value = data[key]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            errors[key] = _("Expected {kind}.").format(kind=_(TYPE_NAMES[kind]))
    if errors:
        raise Invalid(errors)


def limit_of(request: Request) -> int:
    """The ?limit= of a list (default 50, at most 200); Invalid otherwise."""
    raw = request.query_params.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or len(raw) > 4 or not 1 <= int(raw) <= MAX_LIMIT:
        raise Invalid({"limit": _("Use a whole number from 1 to 200.")})
    return int(raw)


def encode_cursor(value: Any) -> str:
    """An opaque cursor string for a position in a list."""
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(request: Request) -> Any:
    """The position of the ?cursor= given (None when absent); Invalid when unreadable."""
    raw = request.query_params.get("cursor", "")
    if not raw:
        return None
    try:
        padded = raw + "=" * (-len(raw) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error):
        raise Invalid({"cursor": _("This cursor is not valid.")}) from None


def association_json(association: Association, members_count: int, base_url: str) -> dict[str, Any]:
    """The public shape of an association in the API."""
    base = base_url.rstrip("/")
    return {
        "slug": association.slug,
        "name": association.name,
        "description": association.description,
        "website": association.website,
        "join_policy": association.join_policy,
        "is_hidden": association.is_hidden,
        "is_network": association.is_network,
        "archived": association.is_archived,
        "approve_follows": association.approve_follows,
        "monthly_note": association.monthly_note,
        "members_count": members_count,
        "logo_url": f"{base}/media/logos/{association.logo}" if association.logo else None,
        "url": f"{base}/associations/{association.slug}",
    }


def _after(request: Request) -> tuple[str, int] | None:
    position = decode_cursor(request)
    if position is None:
        return None
    if (
        not isinstance(position, list)
        or len(position) != 2
        or not isinstance(position[0], str)
        or not isinstance(position[1], int)
    ):
        raise Invalid({"cursor": _("This cursor is not valid.")})
    return position[0], position[1]


def list_associations(request: Request) -> Response:
    """GET /api/v1/associations: the directory, alphabetical, with cursors."""
    user = current_user(request)
    limit = limit_of(request)
    after = _after(request)
    q = request.query_params.get("q", "")[:200]
    found = services(request)
    with found.db.read() as session:
        rows = associations.list_after(session, user=user, q=q, after=after, limit=limit + 1)
        page = rows[:limit]
        counts = associations.members_counts(session, [a.id for _key, a in page if a.id])
    items = [association_json(a, counts[a.id or 0], found.config.base_url) for _key, a in page]
    following = None
    if len(rows) > limit:
        key, last = page[-1]
        following = encode_cursor([key, last.id])
    return JSONResponse({"items": items, "next": following})


CREATE_FIELDS: dict[str, type] = {
    "name": str,
    "join_policy": str,
    "description": str,
    "website": str,
    "hidden": bool,
    "network": bool,
}


@json_view
def create_association(request: Request, data: dict[str, Any]) -> Response:
    """POST /api/v1/associations: create one; the caller becomes its owner."""
    user = current_user(request)
    if user is None:
        return unauthorized()
    found = services(request)
    if not (user.is_admin or found.config.association_creation_open):
        raise Forbidden(_("Creating associations is closed on this instance."))
    check_body(data, CREATE_FIELDS, required=("name",))
    with found.db.write() as session:
        association = associations.create_association(
            session,
            owner=user,
            name=data["name"],
            description=data.get("description", ""),
            website=data.get("website", ""),
            join_policy=data.get("join_policy", "open"),
            is_hidden=data.get("hidden", False),
            is_network=data.get("network", False),
        )
    return JSONResponse(association_json(association, 1, found.config.base_url), status_code=201)


def _visible(request: Request, user: User | None) -> Association:
    with services(request).db.read() as session:
        association, _membership = associations.get_visible(
            session, request.path_params["slug"], user
        )
    return association


def _respond(request: Request, association: Association, status: int = 200) -> Response:
    found = services(request)
    with found.db.read() as session:
        count = associations.members_count(session, association)
    return JSONResponse(
        association_json(association, count, found.config.base_url), status_code=status
    )


def get_association(request: Request) -> Response:
    """GET /api/v1/associations/{slug} (404 when hidden from the caller)."""
    return _respond(request, _visible(request, current_user(request)))


PATCH_FIELDS: dict[str, type] = {
    "name": str,
    "description": str,
    "website": str,
    "join_policy": str,
    "hidden": bool,
    "approve_follows": bool,
    "monthly_note": bool,
}


@json_view
def patch_association(request: Request, data: dict[str, Any]) -> Response:
    """PATCH /api/v1/associations/{slug}: change settings (manage_settings)."""
    user = current_user(request)
    if user is None:
        return unauthorized()
    association = _visible(request, user)
    check_body(data, PATCH_FIELDS)
    with services(request).db.write() as session:
        fresh = associations.get_by_slug(session, association.slug)
        associations.update_settings(
            session,
            association=fresh,
            by=user,
            name=data.get("name"),
            description=data.get("description"),
            website=data.get("website"),
            join_policy=data.get("join_policy"),
            is_hidden=data.get("hidden"),
            approve_follows=data.get("approve_follows"),
            monthly_note=data.get("monthly_note"),
        )
    return _respond(request, fresh)


def delete_association(request: Request) -> Response:
    """DELETE /api/v1/associations/{slug}: owners only; 204."""
    user = current_user(request)
    if user is None:
        return unauthorized()
    association = _visible(request, user)
    found = services(request)
    with found.db.write() as session:
        fresh = associations.get_by_slug(session, association.slug)
        logo = associations.delete_association(session, association=fresh, by=user)
    logos.delete_logo(found.config.data_dir, logo)
    return Response(status_code=204)


@json_view
def join(request: Request, data: dict[str, Any]) -> Response:
    """POST /api/v1/associations/{slug}/join: 201 {"id", "status"}."""
    user = current_user(request)
    if user is None:
        return unauthorized()
    association = _visible(request, user)
    check_body(data, {"message": str})
    found = services(request)
    mails = []
    with found.db.write() as session:
        membership = memberships.join(
            session, association=association, user=user, message=data.get("message", "")
        )
        if membership.status == "pending":
            mails = membership_mails.join_request_mails(
                session,
                association=association,
                membership=membership,
                requester=user,
                base_url=found.config.base_url,
            )
    found.mailer.send(*mails)
    return JSONResponse({"id": membership.id, "status": membership.status}, status_code=201)


@json_view
def leave(request: Request, data: dict[str, Any]) -> Response:
    """POST /api/v1/associations/{slug}/leave: 200 {"id", "status": "left"}."""
    user = current_user(request)
    if user is None:
        return unauthorized()
    association = _visible(request, user)
    check_body(data, {})
    with services(request).db.write() as session:
        membership = associations.membership_of(session, association, user)
        if membership is None:
            raise Conflict(_("You are not a member of this association."))
        memberships.leave(session, membership=membership)
    return JSONResponse({"id": membership.id, "status": membership.status})


routes = [
    Route("/api/v1/associations", list_associations, methods=["GET"]),
    Route("/api/v1/associations", create_association, methods=["POST"]),
    Route("/api/v1/associations/{slug}", get_association, methods=["GET"]),
    Route("/api/v1/associations/{slug}", patch_association, methods=["PATCH"]),
    Route("/api/v1/associations/{slug}", delete_association, methods=["DELETE"]),
    Route("/api/v1/associations/{slug}/join", join, methods=["POST"]),
    Route("/api/v1/associations/{slug}/leave", leave, methods=["POST"]),
]
