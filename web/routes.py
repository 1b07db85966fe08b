"""The whole route table, composed from each area's module."""

from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from web.activitypub import actors as ap_actors
from web.activitypub import admin as ap_admin
from web.activitypub import discovery as ap_discovery
from web.activitypub import inbox as ap_inbox
from web.activitypub import notes as ap_notes
from web.activitypub import summaries as ap_summaries
from web.activitypub import vocabulary as ap_vocabulary
from web.api import action_import as api_action_import
from web.api import actions as api_actions
from web.api import associations as api_associations
from web.api import auth as api_auth
from web.api import exports as api_exports
from web.api import hours as api_hours
from web.api import links as api_links
from web.api import me as api_me
from web.api import members as api_members
from web.api import network_dashboard as api_network_dashboard
from web.api import network_joins as api_network_joins
from web.api import networks as api_networks
from web.api import openapi as api_openapi
from web.api import summaries as api_summaries
from web.api import taxonomy as api_taxonomy
from web.pages import (
    access,
    accounts,
    actions,
    admin,
    app_manifest,
    associations,
    home,
    members,
    offline,
    stats,
)
from web.pages import follow_requests as follow_requests_pages
from web.pages import links as links_pages
from web.pages import my_hours as hours_pages
from web.pages import network_dashboard as network_dashboard_pages
from web.pages import network_joins as network_joins_pages
from web.pages import networks as networks_pages
from web.pages import taxonomy as taxonomy_pages
from web.pages import verify as verify_pages

STATIC_DIR = Path(__file__).parent / "static"

PAGE_MODULES = (
    home,
    app_manifest,
    offline,
    accounts,
    associations,
    members,
    admin,
    actions,
    stats,
    taxonomy_pages,
    access,
    links_pages,
    hours_pages,
    verify_pages,
    follow_requests_pages,
    networks_pages,
    network_dashboard_pages,
    network_joins_pages,
)
API_MODULES = (
    api_auth,
    api_me,
    api_associations,
    api_members,
    api_actions,
    api_action_import,
    api_taxonomy,
    api_summaries,
    api_hours,
    api_exports,
    api_links,
    api_networks,
    api_network_dashboard,
    api_network_joins,
    api_openapi,
)
FEDERATION_MODULES = (
    ap_discovery,
    ap_inbox,
    ap_notes,
    ap_admin,
    ap_summaries,
    ap_vocabulary,
    ap_actors,
)


# Matched first: the routes taking the most requests (recording an action, the
# inboxes). Starlette tries the routes in order, a regular expression each, and the
# table holds about 150; no two routes match the same path and method, so the order
# changes nothing else (tests/test_route_matrix.py visits every route).
HOT_MODULES = (api_actions, actions, ap_inbox)


def build_routes() -> list[BaseRoute]:
    """Every route of the application."""
    table: list[BaseRoute] = []
    rest = [m for m in (*PAGE_MODULES, *API_MODULES, *FEDERATION_MODULES) if m not in HOT_MODULES]
    for module in (*HOT_MODULES, *rest):
        table.extend(module.routes)
    table.append(Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"))
    return table
