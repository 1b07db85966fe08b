"""RFC 9457 problem details for the JSON API."""

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse

from instance.errors import DomainError, Invalid

TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal server error",
}


def problem(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    errors: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem details response (``application/problem+json``)."""
    body: dict[str, Any] = {"type": "about:blank", "title": title or TITLES.get(status, "Error")}
    body["status"] = status
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = dict(errors)
    body.update(extra)
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=dict(headers or {})
    )


def problem_from_error(error: DomainError) -> JSONResponse:
    """The problem details for a domain error."""
    errors = error.errors if isinstance(error, Invalid) else None
    return problem(error.status, error.message, errors=errors)
