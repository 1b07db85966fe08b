"""API: a network's dashboard (its managers), its downloads, and its public open data."""

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from federation.urls import actor_uri
from instance import network_dashboard, network_exports, network_sums, networks
from instance.network_dashboard import Dashboard, Freshness, Group, Months, Sums
from instance.network_open_data import open_data
from instance.valuation import euros
from schema.tables import Association, User
from schema.tables._base import utcnow
from web.api.actions import today_for
from web.api.associations import unauthorized
from web.api.exports import file_name, read_format, streamed
from web.api.networks import load_network
from web.auth import current_user
from web.services import services

OPEN_DATA_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Cache-Control": "public, max-age=300",
}


def months_from(request: Request, default: str = "this_year") -> Months:
    """The months of ?preset= or ?from=&to= ('YYYY-MM' or 'YYYY-MM-DD'); raise Invalid."""
    params = request.query_params
    return network_dashboard.read_months(
        today=today_for(request),
        preset=(params.get("preset") or None),
        start=(params.get("from") or None),
        end=(params.get("to") or None),
        default=default,
    )


def sums_json(sums: Sums, *, minutes_only: bool = False) -> dict[str, Any]:
    """The figures of a group (a category's are minutes only)."""
    if minutes_only:
        return dict.fromkeys(
            ("actions", "valued_amount", "volunteers", "volunteers_hidden", "reports")
        ) | {"minutes": sums.minutes}
    return {
        "minutes": sums.minutes,
        "actions": sums.actions,
        "valued_amount": euros(sums.valued_cents),
        "volunteers": sums.volunteers,
        "volunteers_hidden": sums.hidden,
        "reports": sums.reports,
    }


def group_json(group: Group, group_by: str) -> dict[str, Any]:
    """One group of the dashboard."""
    found = {"key": group.key, "label": group.label}
    found |= sums_json(group.sums, minutes_only=group_by == "category")
    if group_by == "member":
        found["anonymous"] = group.anonymous
    return found


def freshness_json(line: Freshness) -> dict[str, Any]:
    """A member's latest report: when it came, what it says it is, whether it verified."""
    member = line.member
    return {
        "member_id": member.id,
        "name": member.name,
        "anonymous": member.anonymous,
        "host": member.host,
        "latest_month": line.month,
        "received_at": line.received_at.isoformat() if line.received_at else None,
        "updated": line.updated.isoformat() if line.updated else None,
        "proof_status": line.proof_status,
        "flagged": line.flagged,
    }


def dashboard_json(network: Association, found: Dashboard) -> dict[str, Any]:
    """The API shape of a dashboard."""
    total = found.total
    return {
        "network": {"slug": network.slug, "name": network.name},
        "from": found.months.first,
        "to": found.months.last,
        "group_by": found.group_by,
        "total_minutes": total.minutes,
        "total_actions": total.actions,
        "valued_amount": euros(total.valued_cents),
        "currency": network_sums.CURRENCY,
        "volunteers": total.volunteers,
        "volunteers_hidden": total.hidden,
        "totals_only_minutes": total.totals_only_minutes,
        "reports": total.reports,
        "members": found.members,
        "flagged": found.flagged,
        "groups": [group_json(group, found.group_by) for group in found.groups],
        "freshness": [freshness_json(line) for line in found.freshness],
    }


def manager_network(request: Request) -> tuple[Association, User] | Response:
    """The network, for a caller holding view_actions in it (401, 404 or 403 otherwise)."""
    user = current_user(request)
    if user is None:
        return unauthorized()
    network, membership = load_network(request, user)
    networks.require(user, membership, "view_actions")
    return network, user


def read_dashboard(request: Request, network: Association) -> Dashboard:
    """The dashboard the query asks for (months and group_by)."""
    months = months_from(request)
    group_by = network_dashboard.check_group_by(request.query_params.get("group_by"))
    with services(request).db.read() as session:
        return network_dashboard.dashboard(
            session, network=network, months=months, group_by=group_by
        )


def dashboard_endpoint(request: Request) -> Response:
    """GET /api/v1/networks/{slug}/dashboard?from=&to=&group_by=month|member|category.

    Exact sums of the members' counted reports (not deleted, proof verified),
    each member's latest report and whether its proof failed (view_actions).
    """
    found = manager_network(request)
    if isinstance(found, Response):
        return found
    network, _user = found
    return JSONResponse(dashboard_json(network, read_dashboard(request, network)))


def stream_dashboard(request: Request, network: Association, fmt: str) -> Response:
    """The dashboard of the query as a download (rights already checked)."""
    found = read_dashboard(request, network)
    with services(request).db.read() as session:
        threshold = networks.profile_of(session, network).threshold
    document = network_exports.dashboard_document(
        found, network=network, threshold=threshold, zone=services(request).config.zone
    )
    rows = network_exports.dashboard_rows(found)
    name = file_name(network.slug, "network", found.group_by, found.months.first, found.months.last)
    return streamed(request, fmt=fmt, document=document, filename=name, rows=lambda _s: [rows])


def dashboard_export(request: Request) -> Response:
    """GET /api/v1/networks/{slug}/dashboard.{fmt}: the dashboard as CSV, ODS, XLSX or JSON."""
    found = manager_network(request)
    if isinstance(found, Response):
        return found
    network, _user = found
    return stream_dashboard(request, network, read_format(request))


def open_data_endpoint(request: Request) -> Response:
    """GET /api/v1/networks/{slug}/open-data.json: the network's open data, for anyone.

    Totals by month and by reference category, and each member with its totals
    only (anonymous members unnamed), under the network's licence. All months
    unless ?from=&to= are given. See docs/open-data.md.
    """
    network, _membership = load_network(request, None)
    months = months_from(request, default="all_time")
    config = services(request).config
    base = config.base_url.rstrip("/")
    with services(request).db.read() as session:
        document = open_data(
            session,
            network=network,
            months=months,
            actor_uri=actor_uri(config, "association", network.slug),
            page_url=f"{base}/associations/{network.slug}/network",
            generated=utcnow().replace(microsecond=0),
        )
    return JSONResponse(document, headers=OPEN_DATA_HEADERS)


routes: list[BaseRoute] = [
    Route("/api/v1/networks/{slug}/dashboard", dashboard_endpoint, methods=["GET"]),
    Route("/api/v1/networks/{slug}/dashboard.{fmt}", dashboard_export, methods=["GET"]),
    Route("/api/v1/networks/{slug}/open-data.json", open_data_endpoint, methods=["GET"]),
]
