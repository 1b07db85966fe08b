"""Jinja2 templates: one environment, translated through instance.i18n."""

from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from instance import i18n, site
from web import csrf
from web.auth import current_user
from web.flash import pop_flashes
from web.services import services

TEMPLATE_DIR = Path(__file__).parent / "templates"


def format_minutes(minutes: int | None) -> str:
    """Minutes as "3 h 05" (or "45 min")."""
    if minutes is None:
        return ""
    sign = "-" if minutes < 0 else ""
    hours, rest = divmod(abs(int(minutes)), 60)
    if hours == 0:
        return f"{sign}{rest} min"
    return f"{sign}{hours} h {rest:02d}"


def format_date(value: date | datetime | None) -> str:
    """A date the way the current language writes it."""
    if value is None:
        return ""
    if i18n.current_language.get() == "fr":
        return value.strftime("%d/%m/%Y")
    return value.strftime("%Y-%m-%d")


def make_environment() -> jinja2.Environment:
    """The Jinja2 environment with translations and filters installed."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext
    )
    env.filters["minutes"] = format_minutes
    env.filters["date"] = format_date
    env.globals["language_names"] = i18n.LANGUAGE_NAMES
    return env


templates = Jinja2Templates(env=make_environment())


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    """Render a page with what every page needs (user, CSRF token, flashes...)."""
    found = services(request)
    user = current_user(request)
    with found.db.read() as session:
        site_name = site.get_setting(session, "site_name", found.config.site_name)
        announcements = site.active_announcements(session, user)
    full: dict[str, Any] = {
        "user": user,
        "csrf_token": csrf.token(request),
        "language": i18n.current_language.get(),
        "languages": found.config.languages,
        "site_name": site_name,
        "flashes": pop_flashes(request),
        "announcements": announcements,
        "path": request.url.path,
    }
    full.update(context or {})
    response = templates.TemplateResponse(request, template, full, status_code=status)
    return response
