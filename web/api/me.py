"""API: my own account (profile, export, deletion)."""

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from federation import links
from instance import account_data, accounts
from instance.errors import Invalid
from instance.i18n import _
from schema.tables import User
from web.api.auth import check_fields, token_holder, unauthorized
from web.forms import json_view
from web.services import services

PROFILE_FIELDS = {"display_name": str, "language": str, "federation": bool, "reminders": str}


def me_data(user: User, domain: str) -> dict[str, Any]:
    """What the API says about the person asking."""
    return {
        "username": user.username,
        "email": user.email,
        "display_name": user.display_name,
        "language": user.language,
        "is_admin": user.is_admin,
        "federation": user.federation_enabled,
        "reminders": user.reminders,
        "handle": f"{user.username}@{domain}" if user.federation_enabled else None,
        "created_at": user.created_at.isoformat(),
    }


def show(request: Request) -> Response:
    """GET /api/v1/me."""
    holder = token_holder(request)
    if holder is None:
        return unauthorized()
    return JSONResponse(me_data(holder[0], services(request).config.domain))


@json_view
def patch(request: Request, data: dict[str, Any]) -> Response:
    """PATCH /api/v1/me: change the display name, language, federation choice or reminders.

    ``reminders``: "" (never), "week" or "month": a mail to record one's actions.
    """
    holder = token_holder(request)
    if holder is None:
        return unauthorized()
    check_fields(data, PROFILE_FIELDS)
    found = services(request)
    if "language" in data and data["language"] not in found.config.languages:
        raise Invalid({"language": _("Choose a language from the list.")})
    with found.db.write() as session:
        user = holder[0]
        if data.get("federation") is False:  # turning the actor off ends every link
            user = links.set_federation(session, config=found.config, user=user, enabled=False)
        user = accounts.update_profile(
            session,
            user=user,
            display_name=data.get("display_name"),
            language=data.get("language"),
            federation_enabled=data.get("federation"),
            reminders=data.get("reminders"),
        )
    return JSONResponse(me_data(user, found.config.domain))


def export(request: Request) -> Response:
    """GET /api/v1/me/export: everything the instance keeps about me."""
    holder = token_holder(request)
    if holder is None:
        return unauthorized()
    with services(request).db.read() as session:
        data = account_data.export_user_data(session, holder[0])
    return JSONResponse(data)


@json_view
def delete(request: Request, data: dict[str, Any]) -> Response:
    """DELETE /api/v1/me {"password"}: delete my account."""
    holder = token_holder(request)
    if holder is None:
        return unauthorized()
    check_fields(data, {"password": str}, ("password",))
    found = services(request)
    with found.db.write() as session:
        account_data.delete_account(
            session, user=holder[0], password=data["password"], limiter=found.login_limiter
        )
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route("/api/v1/me", show, methods=["GET"]),
    Route("/api/v1/me", patch, methods=["PATCH"]),
    Route("/api/v1/me", delete, methods=["DELETE"]),
    Route("/api/v1/me/export", export, methods=["GET"]),
]
