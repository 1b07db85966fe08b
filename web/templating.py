"""Jinja2 templates: one environment, translated through instance.i18n."""

import os
import re
from pathlib import Path
from typing import Any

import jinja2
from jinja2.nodes import EvalContext
from markupsafe import Markup
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from instance import i18n, site
from web import csrf
from web.action_table import action_table_body
from web.auth import current_user
from web.flash import pop_flashes
from web.formats import format_date, format_minutes
from web.services import services

TEMPLATE_DIR = Path(__file__).parent / "templates"
#: Set to 1 while editing templates: each render then checks whether its files changed.
RELOAD_VARIABLE = "BENEFED_TEMPLATES_RELOAD"
#: Translations of the messages templates show, by language: a page asks for dozens.
_TRANSLATED: dict[tuple[str, str], Markup] = {}
_TRANSLATED_MAX = 10_000


@jinja2.pass_eval_context
def translate(context: EvalContext, message: str, **variables: Any) -> str:
    """`_()` and `gettext()` in templates: what Jinja's new-style gettext does, remembered.

    As there, the translation is markup (autoescaped templates) and formatted with
    the variables; without variables the result depends only on the language and
    the message, so it is kept. (It takes the evaluation context, not the context:
    Jinja derives a new context for each call of the latter inside a loop.)
    """
    if variables or not context.autoescape:
        text = i18n.gettext(message)
        found: str = Markup(text) if context.autoescape else text
        return found % variables
    key = (i18n.current_language.get(), message)
    known = _TRANSLATED.get(key)
    if known is None:
        if len(_TRANSLATED) >= _TRANSLATED_MAX:
            _TRANSLATED.clear()
        known = _TRANSLATED[key] = Markup(i18n.gettext(message)) % {}
    return known


def _escaped(value: Any) -> str:
    """What markupsafe.escape gives, as a plain string (no Markup object per value)."""
    if type(value) is str:
        text = value
    elif hasattr(value, "__html__"):
        return str(value.__html__())
    else:
        text = str(value)
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return (
        text.replace("&", "&amp;")
        .replace(">", "&gt;")
        .replace("<", "&lt;")
        .replace("'", "&#39;")
        .replace('"', "&#34;")
    )


_NEEDS_ESCAPE = re.compile("[&<>'\"]")


def select_options(options: Any, current: Any) -> Markup:
    """The <option>s of a select, the current value selected (long lists: one loop in Python).

    `options`: (value, text) pairs; `current`: the value as text (as a query string gives it).
    """
    return Markup(
        "".join(
            [
                f'<option value="{_escaped(value)}" {"selected" if str(value) == current else ""}>'
                f"{_escaped(text)}</option>"
                for value, text in options
            ]
        )
    )


def make_environment() -> jinja2.Environment:
    """The Jinja2 environment with translations and filters installed."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship with the code: no file checks on every render unless asked.
        auto_reload=os.environ.get(RELOAD_VARIABLE) == "1",
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext
    )
    env.globals["_"] = env.globals["gettext"] = translate
    env.filters["minutes"] = format_minutes
    env.filters["date"] = format_date
    env.filters["select_options"] = select_options
    env.globals["language_names"] = i18n.LANGUAGE_NAMES
    env.globals["action_table_body"] = action_table_body
    return env


templates = Jinja2Templates(env=make_environment())


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    reading: Session | None = None,
) -> HTMLResponse:
    """Render a page with what every page needs (user, CSRF token, flashes...).

    `reading`: the page's open read, which the site's name and announcements are read
    in too (one transaction less on the busiest pages).
    """
    found = services(request)
    user = current_user(request, reading)
    if reading is not None:
        frame = site.page_frame(reading.connection(), user, found.config.site_name)
    else:
        with found.db.engine.connect() as connection:
            frame = site.page_frame(connection, user, found.config.site_name)
    full: dict[str, Any] = {
        "user": user,
        "csrf_token": csrf.token(request),
        "language": i18n.current_language.get(),
        "languages": found.config.languages,
        "site_name": frame.site_name,
        "flashes": pop_flashes(request),
        "announcements": frame.announcements,
        "path": request.url.path,
    }
    full.update(context or {})
    response = templates.TemplateResponse(request, template, full, status_code=status)
    return response
