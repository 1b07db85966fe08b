"""API: personal access tokens (create with a password, revoke the one in use)."""

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from instance import account_tokens, accounts
from instance.errors import Invalid
from instance.i18n import _
from schema.tables import ApiToken, User
from web.auth import bearer_token
from web.forms import json_view
from web.problems import problem
from web.services import services

TOKEN_FIELDS = {"username": str, "password": str, "label": str}
REQUIRED = ("username", "password")


def check_fields(
    data: Mapping[str, Any], fields: Mapping[str, type], required: tuple[str, ...] = ()
) -> None:
    """Raise Invalid naming unknown fields, missing ones and values of the wrong type."""
    errors = {name: _("Unknown field.") for name in sorted(set(data) - set(fields))}
    for name in required:
        if name not in data:
            errors[name] = _("This field is required.")
    for name, kind in fields.items():
        if name in data and not isinstance(data[name], kind):
            errors[name] = _("Expected true or false.") if kind is bool else _("Expected a string.")
    if errors:
        raise Invalid(errors)


def token_holder(request: Request) -> tuple[User, ApiToken] | None:
    """The person and token of an ``Authorization: Bearer`` header (sessions do not count)."""
    raw = bearer_token(request)
    if raw is None:
        return None
    with services(request).db.read() as session:
        row = account_tokens.find_api_token(session, raw)
        user = session.get(User, row.user_id) if row is not None else None
    if row is None or user is None or user.is_suspended:
        return None
    return user, row


def unauthorized() -> JSONResponse:
    """The 401 answer to a call without a valid token."""
    return problem(
        401,
        "Send a valid API token in an Authorization: Bearer header.",
        headers={"WWW-Authenticate": "Bearer"},
    )


def client_address(request: Request) -> str:
    """The address the request came from (a rate-limit key)."""
    return request.client.host if request.client else "unknown"


@json_view
def create_token(request: Request, data: dict[str, Any]) -> Response:
    """Exchange a user name (or email) and password for a new API token."""
    check_fields(data, TOKEN_FIELDS, REQUIRED)
    found = services(request)
    label = account_tokens.check_label(data.get("label", ""))
    with found.db.read() as session:
        user = accounts.check_credentials(
            session,
            login=data["username"],
            password=data["password"],
            limiter=found.login_limiter,
            address=client_address(request),
        )
    with found.db.write() as session:
        user = accounts.record_login(session, user=user, password=data["password"])
        row, token = account_tokens.create_api_token(session, user=user, label=label)
    return JSONResponse({"token": token, "id": row.id}, status_code=201)


def revoke_token(request: Request) -> Response:
    """Revoke the token this request is made with."""
    raw = bearer_token(request)
    if raw is None or token_holder(request) is None:
        return unauthorized()
    with services(request).db.write() as session:
        account_tokens.revoke_api_token(session, token=raw)
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route("/api/v1/auth/token", create_token, methods=["POST"]),
    Route("/api/v1/auth/token", revoke_token, methods=["DELETE"]),
]
