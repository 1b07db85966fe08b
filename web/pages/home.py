"""The home page, legal pages, language switch and health check."""

from urllib.parse import urlsplit

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from instance import site
from instance.i18n import _
from web.auth import current_user
from web.services import services
from web.templating import render

PAGE_TITLES = {
    "terms": "Terms of use",
    "legal": "Legal notice",
    "privacy": "Privacy policy",
}


def home(request: Request) -> Response:
    """Welcome page; signed-in people go to their dashboard."""
    if current_user(request) is not None:
        return RedirectResponse("/dashboard", status_code=303)
    return render(request, "home.html")


def site_page(request: Request) -> Response:
    """Terms of use, legal notice or privacy policy, as the operator wrote them."""
    name = request.path_params["page"]
    if name not in PAGE_TITLES:
        return render(
            request, "error.html", {"status": 404, "message": _("No such page.")}, status=404
        )
    with services(request).db.read() as session:
        text_value = site.get_setting(session, name)
    return render(request, "site_page.html", {"title": _(PAGE_TITLES[name]), "text": text_value})


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go back to (never another site)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def language(request: Request) -> Response:
    """Switch the interface language and go back where the person was."""
    chosen = request.query_params.get("lang", "")
    if chosen in services(request).config.languages:
        request.session["language"] = chosen
    return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)


def health(request: Request) -> Response:
    """Liveness and database check for monitoring."""
    try:
        with services(request).db.read() as session:
            session.connection().execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001  (any database failure means unhealthy)
        return JSONResponse({"status": "error", "database": str(error)[:200]}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


routes = [
    Route("/", home, methods=["GET"]),
    Route("/about/{page}", site_page, methods=["GET"]),
    Route("/language", language, methods=["GET"]),
    Route("/health", health, methods=["GET"]),
]
