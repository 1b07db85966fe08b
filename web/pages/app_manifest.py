"""The web app manifest: a phone can put the instance on its home screen, opening on the action form.

Volunteers record from a phone; installed, the instance opens in a window of its
own, one tap from "record an action" (the manifest's start page and shortcut).
"""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from instance import site
from instance.i18n import _, current_language
from web.services import services

THEME_COLOR = "#0b5d3b"  # the icon's green (web/static/icon.svg)


def manifest(request: Request) -> Response:
    """GET /manifest.webmanifest, in the visitor's language, named as the site."""
    found = services(request)
    with found.db.read() as session:
        name = site.get_setting(session, "site_name") or found.config.site_name
    icons = [
        {"src": "/static/icon-192.png", "sizes": "192x192", "type": "image/png"},
        {"src": "/static/icon-512.png", "sizes": "512x512", "type": "image/png"},
        # The heart sits in the middle fifth: safe when a launcher crops the icon round.
        {
            "src": "/static/icon-512.png",
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
        {"src": "/static/icon.svg", "sizes": "any", "type": "image/svg+xml"},
    ]
    body = {
        "name": name,
        "short_name": name if len(name) <= 12 else name[:12].rstrip(),
        "description": _("Record and value volunteer work."),
        "lang": current_language.get(),
        "start_url": "/actions/new",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": THEME_COLOR,
        "icons": icons,
        "shortcuts": [
            {"name": _("Record an action"), "url": "/actions/new"},
            {"name": _("My hours"), "url": "/me/hours"},
        ],
    }
    return JSONResponse(body, media_type="application/manifest+json")


routes = [Route("/manifest.webmanifest", manifest, methods=["GET"])]
