"""Content negotiation: the same URL gives HTML to a browser and ActivityPub JSON to a server.

A GET or HEAD on a shared URL (an association, one of its notes) whose Accept
header prefers ``application/activity+json`` or ``application/ld+json`` (with
the ActivityStreams profile, or none) is answered by web/activitypub/actors.py;
anything else goes on to the HTML pages, with ``Vary: Accept`` added.
"""

from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.activitypub.actors import negotiated_routes

AS2_PROFILE = "https://www.w3.org/ns/activitystreams"
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def _media_ranges(accept: str) -> list[tuple[str, dict[str, str], float]]:
    """(media type, parameters, q) for each media range of an Accept header."""
    ranges = []
    for part in accept.split(","):
        media, *raw_params = part.split(";")
        params: dict[str, str] = {}
        for raw in raw_params:
            name, _, value = raw.strip().partition("=")
            params[name.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 0.0
        media = media.strip().lower()
        if media:
            ranges.append((media, params, max(0.0, min(q, 1.0))))
    return ranges


def _is_activitypub(media: str, params: dict[str, str]) -> bool:
    if media == "application/activity+json":
        return True
    if media != "application/ld+json":
        return False
    profile = params.get("profile")
    return profile is None or AS2_PROFILE in profile.split()


def wants_activitypub(accept: str) -> bool:
    """True when an Accept header prefers ActivityPub JSON over HTML (ties: the first listed)."""
    best_ap, best_html = (0.0, -1), (0.0, -1)
    for position, (media, params, q) in enumerate(_media_ranges(accept)):
        if _is_activitypub(media, params) and q > best_ap[0]:
            best_ap = (q, position)
        elif media in HTML_TYPES and q > best_html[0]:
            best_html = (q, position)
    if best_ap[0] <= 0:
        return False
    if best_ap[0] != best_html[0]:
        return best_ap[0] > best_html[0]
    return best_ap[1] < best_html[1]


class ActivityPubNegotiation:
    """ASGI middleware answering ActivityPub requests on URLs shared with HTML pages."""

    def __init__(self, app: ASGIApp, routes: list[Route] | None = None) -> None:
        self.app = app
        self.routes = negotiated_routes if routes is None else routes

    def _match(self, scope: Scope) -> tuple[Route, Scope] | None:
        for route in self.routes:
            match, child = route.matches(scope)
            if match == Match.FULL:
                return route, child
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in {"GET", "HEAD"}:
            await self.app(scope, receive, send)
            return
        found = self._match(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        if wants_activitypub(Headers(scope=scope).get("accept", "")):
            route, child = found
            await route.handle({**scope, **child}, receive, send)
            return

        async def send_with_vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.add_vary_header("Accept")
            await send(message)

        await self.app(scope, receive, send_with_vary)
