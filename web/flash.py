"""One-time messages shown on the next page (after a redirect)."""

from starlette.requests import Request


def flash(request: Request, message: str, kind: str = "success") -> None:
    """Queue a message for the next page."""
    request.session.setdefault("flash", []).append([kind, message])


def pop_flashes(request: Request) -> list[tuple[str, str]]:
    """Take the queued messages."""
    if "session" not in request.scope:
        return []
    return [(kind, message) for kind, message in request.session.pop("flash", [])]
