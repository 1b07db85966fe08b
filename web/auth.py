"""Who is asking: the signed-in person (session cookie) or an API token holder."""

import hashlib
import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import quote

from sqlmodel import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from instance.secrets import token_hash
from schema.tables import ApiToken, User
from web.services import services

API_PREFIX = "/api/"
SESSION_USER = "user_id"
SESSION_STAMP = "stamp"
_UNSET = object()


def stamp(user: User) -> str:
    """A fingerprint of the password hash: sessions die when the password changes."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def login(request: Request, user: User) -> None:
    """Start a session for the person (a fresh session, against fixation)."""
    keep = {key: request.session[key] for key in ("language",) if key in request.session}
    request.session.clear()
    request.session.update(keep)
    request.session[SESSION_USER] = user.id
    request.session[SESSION_STAMP] = stamp(user)


def logout(request: Request) -> None:
    """End the session."""
    request.session.clear()


def current_user(request: Request) -> User | None:
    """The signed-in person, or None (cached on the request).

    The JSON API takes bearer tokens only: a session cookie there would let other
    sites make a visitor's browser call it.
    """
    cached = getattr(request.state, "user", _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[no-any-return]
    if request.url.path.startswith(API_PREFIX):
        user = _bearer_user(request)
    else:
        user = _session_user(request)
    request.state.user = user
    return user


def _session_user(request: Request) -> User | None:
    if "session" not in request.scope:
        return None
    user_id = request.session.get(SESSION_USER)
    if not isinstance(user_id, int):
        return None
    with services(request).db.read() as session:
        user = session.get(User, user_id)
    if user is None or user.is_suspended:
        return None
    if not hmac.compare_digest(request.session.get(SESSION_STAMP, ""), stamp(user)):
        return None
    return user


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header."""
    header = request.headers.get("authorization", "")
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _bearer_user(request: Request) -> User | None:
    raw = bearer_token(request)
    if raw is None:
        return None
    with services(request).db.read() as session:
        row = session.exec(select(ApiToken).where(ApiToken.token_hash == token_hash(raw))).first()
        user = session.get(User, row.user_id) if row is not None else None
    if user is None or user.is_suspended:
        return None
    return user


def login_redirect(request: Request) -> RedirectResponse:
    """Send the person to the login page, coming back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def login_required(view: Callable[..., Response]) -> Callable[..., Response]:
    """Decorate a page: anonymous visitors are sent to the login page."""

    @wraps(view)
    def wrapper(request: Request, *args: Any, **kwargs: Any) -> Response:
        if current_user(request) is None:
            return login_redirect(request)
        return view(request, *args, **kwargs)

    return wrapper
