"""Who is asking: the signed-in person (session cookie) or an API token holder."""

import hashlib
import hmac
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import quote

from sqlalchemy import event
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from instance import account_tokens, accounts
from schema.tables import User
from schema.tables._base import utcnow
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


def current_user(request: Request, session: Session | None = None) -> User | None:
    """The signed-in person, or None (cached on the request).

    The JSON API takes bearer tokens only: a session cookie there would let other
    sites make a visitor's browser call it. `session`: a read the caller has open
    (one transaction instead of two on the hottest endpoints).
    """
    cached = getattr(request.state, "user", _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[no-any-return]
    if request.url.path.startswith(API_PREFIX):
        user = _bearer_user(request, session)
    else:
        user = _session_user(request, session)
    request.state.user = user
    return user


def _reading(request: Request, session: Session | None) -> AbstractContextManager[Session]:
    """The caller's open session, else a new read."""
    return nullcontext(session) if session is not None else services(request).db.read()


def _session_user(request: Request, session: Session | None = None) -> User | None:
    if "session" not in request.scope:
        return None
    user_id = request.session.get(SESSION_USER)
    if not isinstance(user_id, int):
        return None
    with _reading(request, session) as reading:
        user = accounts.signed_in_user(reading, user_id)
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


def _bearer_user(request: Request, session: Session | None = None) -> User | None:
    """The holder of the request's token (one query), whose use is noted (see below)."""
    raw = bearer_token(request)
    if raw is None:
        return None
    with _reading(request, session) as reading:
        found = account_tokens.token_holder(reading, raw)
    if found is None or found[1].is_suspended:
        return None
    row, user = found
    use = None
    if row.id is not None and account_tokens.use_is_stale(row, utcnow()):
        use = TokenUse(row.id)
        request.state.token_use = use
    _PENDING_USE.set(use)
    return user


# ApiToken.last_used_at is stamped at most once a minute per token, and only for a
# request that went through: a change stamps it in its own transaction (the commit
# of the request's first writing session: a refused change rolls it back with the
# rest), anything else once its response succeeded (TokenUseMiddleware).


@dataclass
class TokenUse:
    """A token whose use this request should stamp (None once stamped)."""

    token_id: int | None


_PENDING_USE: ContextVar[TokenUse | None] = ContextVar("benefed_token_use", default=None)


@event.listens_for(Session, "before_commit")
def _stamp_token_with_commit(session: Session) -> None:
    use = _PENDING_USE.get()
    if use is not None and use.token_id is not None:
        account_tokens.stamp_api_token_use(session, token_id=use.token_id)
        use.token_id = None


class TokenUseMiddleware:
    """Stamp the token of an API request that succeeded and wrote nothing (reads)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; after a response under 400, stamp its token if still due."""
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        status = 500

        async def watching(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watching)
        use = scope.get("state", {}).get("token_use")
        if status < 400 and isinstance(use, TokenUse) and use.token_id is not None:
            await run_in_threadpool(_stamp, Request(scope), use)


def _stamp(request: Request, use: TokenUse) -> None:
    if use.token_id is not None:
        with services(request).db.write() as session:
            account_tokens.stamp_api_token_use(session, token_id=use.token_id)
        use.token_id = None


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
