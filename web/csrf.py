"""CSRF protection for forms: a per-session token checked on every form POST."""

import hmac
import secrets

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

FIELD = "csrf_token"


def token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    if "session" not in request.scope:
        return ""
    value = request.session.get(FIELD)
    if not value:
        value = secrets.token_urlsafe(32)
        request.session[FIELD] = value
    return str(value)


def check(request: Request, form: FormData) -> None:
    """Raise 403 unless the form carries the session's token."""
    expected = request.session.get(FIELD, "")
    given = form.get(FIELD, "")
    if not expected or not isinstance(given, str) or not hmac.compare_digest(expected, given):
        raise HTTPException(
            403, "The form expired or did not come from this site. Reload the page and try again."
        )
