"""API: the members of an association, requests to join, roles and invitations."""

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from instance import associations, invitations, membership_mails, memberships
from instance.errors import Forbidden, Invalid
from instance.i18n import _
from instance.permissions import PERMISSIONS, permission_flags
from schema.tables import Association, Membership, User
from web.api.associations import (
    check_body,
    decode_cursor,
    encode_cursor,
    limit_of,
    unauthorized,
)
from web.auth import current_user
from web.forms import json_view
from web.services import services


def member_json(membership: Membership, user: User | None) -> dict[str, Any]:
    """The shape of a member in the API."""
    joined = memberships.joined_at(membership)
    return {
        "id": membership.id,
        "username": user.username if user is not None else None,
        "display_name": memberships.member_name(membership, user),
        "role": membership.role,
        "status": membership.status,
        "permissions": permission_flags(membership),
        "joined_at": joined.isoformat() if joined else None,
    }


def _association(request: Request, user: User) -> tuple[Association, Membership | None]:
    with services(request).db.read() as session:
        return associations.get_visible(session, request.path_params["slug"], user)


def _person(session: Any, membership: Membership) -> User | None:
    return session.get(User, membership.user_id) if membership.user_id else None


def list_members(request: Request) -> Response:
    """GET /api/v1/associations/{slug}/members: by id, with cursors; ?status= filter."""
    user = current_user(request)
    if user is None:
        return unauthorized()
    association, mine = _association(request, user)
    if not memberships.can_list_members(user, mine):
        raise Forbidden(_("You are not allowed to see the members of this association."))
    limit = limit_of(request)
    after = decode_cursor(request)
    if after is not None and (not isinstance(after, int) or isinstance(after, bool)):
        raise Invalid({"cursor": _("This cursor is not valid.")})
    status = request.query_params.get("status", "")
    with services(request).db.read() as session:
        rows = memberships.list_members_after(
            session, association=association, status=status, after=after, limit=limit + 1
        )
    page = rows[:limit]
    following = encode_cursor(page[-1][0].id) if len(rows) > limit else None
    return JSONResponse({"items": [member_json(m, u) for m, u in page], "next": following})


def _decide(request: Request, data: dict[str, Any], accepted: bool) -> Response:
    user = current_user(request)
    if user is None:
        return unauthorized()
    association, _mine = _association(request, user)
    check_body(data, {})
    base_url = services(request).config.base_url
    with services(request).db.write() as session:
        target = memberships.get_member(
            session, association=association, member_id=request.path_params["member_id"]
        )
        (memberships.accept if accepted else memberships.refuse)(
            session, membership=target, by=user
        )
        person = _person(session, target)
        mails = []
        if person is not None:
            mails.append(
                membership_mails.decision_mail(
                    association=association, user=person, accepted=accepted, base_url=base_url
                )
            )
    services(request).mailer.send(*mails)
    return JSONResponse(member_json(target, person))


@json_view
def accept(request: Request, data: dict[str, Any]) -> Response:
    """POST .../members/{id}/accept: 200 with the member; 409 unless pending."""
    return _decide(request, data, True)


@json_view
def refuse(request: Request, data: dict[str, Any]) -> Response:
    """POST .../members/{id}/refuse: 200 with the member; 409 unless pending."""
    return _decide(request, data, False)


def _permissions(data: dict[str, Any]) -> dict[str, bool] | None:
    wanted = data.get("permissions")
    if wanted is None:
        return None
    errors = {}
    for name, value in wanted.items():
        if name not in PERMISSIONS:
            errors[f"permissions.{name}"] = _("Unknown permission.")
        elif not isinstance(value, bool):
            errors[f"permissions.{name}"] = _("Expected true or false.")
    if errors:
        raise Invalid(errors)
    return dict(wanted)


@json_view
def patch_member(request: Request, data: dict[str, Any]) -> Response:
    """PATCH .../members/{id} {"role"?, "permissions"?}: 200 with the member."""
    user = current_user(request)
    if user is None:
        return unauthorized()
    association, _mine = _association(request, user)
    check_body(data, {"role": str, "permissions": dict})
    permissions = _permissions(data)
    with services(request).db.write() as session:
        target = memberships.get_member(
            session, association=association, member_id=request.path_params["member_id"]
        )
        memberships.set_role(
            session,
            membership=target,
            role=data.get("role", target.role),
            permissions=permissions,
            by=user,
        )
        person = _person(session, target)
    return JSONResponse(member_json(target, person))


def delete_member(request: Request) -> Response:
    """DELETE .../members/{id}: the member is removed (their actions stay); 204."""
    user = current_user(request)
    if user is None:
        return unauthorized()
    association, _mine = _association(request, user)
    with services(request).db.write() as session:
        target = memberships.get_member(
            session, association=association, member_id=request.path_params["member_id"]
        )
        memberships.remove(session, membership=target, by=user)
    return Response(status_code=204)


@json_view
def invite(request: Request, data: dict[str, Any]) -> Response:
    """POST .../invitations {"email", "role"?}: 201 {"id", "email", "expires_at"}."""
    user = current_user(request)
    if user is None:
        return unauthorized()
    association, mine = _association(request, user)
    associations.require_permission(user, mine, "manage_members")
    check_body(data, {"email": str, "role": str}, required=("email",))
    config = services(request).config
    with services(request).db.write() as session:
        invitation, token = invitations.create_invitation(
            session,
            association=association,
            by=user,
            email=data["email"],
            role=data.get("role", "volunteer"),
        )
        mail = membership_mails.invitation_mail(
            session,
            association=association,
            invitation=invitation,
            token=token,
            inviter=user,
            base_url=config.base_url,
            default_language=config.default_language,
        )
    services(request).mailer.send(mail)
    body = {
        "id": invitation.id,
        "email": invitation.email,
        "expires_at": invitation.expires_at.isoformat(),
    }
    return JSONResponse(body, status_code=201)


MEMBER = "/api/v1/associations/{slug}/members/{member_id:int}"

routes = [
    Route("/api/v1/associations/{slug}/members", list_members, methods=["GET"]),
    Route(MEMBER + "/accept", accept, methods=["POST"]),
    Route(MEMBER + "/refuse", refuse, methods=["POST"]),
    Route(MEMBER, patch_member, methods=["PATCH"]),
    Route(MEMBER, delete_member, methods=["DELETE"]),
    Route("/api/v1/associations/{slug}/invitations", invite, methods=["POST"]),
]
