"""The whole route table, composed from each area's module."""

from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from web.api import associations as api_associations
from web.api import auth as api_auth
from web.api import me as api_me
from web.api import members as api_members
from web.pages import accounts, admin, associations, home, members

STATIC_DIR = Path(__file__).parent / "static"

PAGE_MODULES = (home, accounts, associations, members, admin)
API_MODULES = (api_auth, api_me, api_associations, api_members)


def build_routes() -> list[BaseRoute]:
    """Every route of the application."""
    table: list[BaseRoute] = []
    for module in (*PAGE_MODULES, *API_MODULES):
        table.extend(module.routes)
    table.append(Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"))
    return table
