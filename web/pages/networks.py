"""Pages of a network: its public page, its settings and categories, its members and requests.

A network is an association, so its pages live under /associations/{slug}/network.
The public page lists the member associations (wherever they are hosted, the
anonymous ones unnamed) with the network's totals and a link to its open data.
Decisions on requests go through federation/network_requests.py: the status
changes and the association gets an Accept or a Reject.
"""

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from federation import network_requests
from instance import network_dashboard, network_members, networks
from instance.errors import Conflict, Invalid
from instance.i18n import _
from instance.network_dashboard import Months
from instance.network_setup import LICENCES, THRESHOLD_MAX, THRESHOLD_MIN
from instance.periods import FIRST_DATE, month_key
from instance.permissions import has_permission
from instance.valuation import euros
from schema.tables import Association, Membership, NetworkMember, User
from web.api.actions import today_for
from web.auth import current_user, login_required
from web.flash import flash
from web.forms import FormState, form_view, post_view
from web.pages.associations import page_number
from web.services import services
from web.templating import render

PER_PAGE = 100
MAX_ID = 2**31


def load(request: Request) -> tuple[Association, Membership | None, User | None]:
    """The network of the URL, the person's membership and the person; 404 if hidden."""
    user = current_user(request)
    with services(request).db.read() as session:
        network, membership = networks.get_network(session, request.path_params["slug"], user)
    return network, membership, user


def managed(request: Request, permission: str) -> tuple[Association, Membership | None, User]:
    """The network, for a signed-in person holding the permission in it (403 otherwise)."""
    network, membership, user = load(request)
    assert user is not None
    networks.require(user, membership, permission)
    return network, membership, user


def back(network: Association, page: str = "") -> RedirectResponse:
    """A 303 redirect to one of the network's pages."""
    suffix = f"/{page}" if page else ""
    return RedirectResponse(f"/associations/{network.slug}/network{suffix}", status_code=303)


def manager_links(
    network: Association, user: User | None, membership: Membership | None
) -> list[tuple[str, str]]:
    """The network pages this person may open."""
    base = f"/associations/{network.slug}/network"
    links = []
    if has_permission(user, membership, "view_actions"):
        links.append((f"{base}/dashboard", _("Dashboard")))
    if has_permission(user, membership, "manage_members"):
        links.append((f"{base}/members", _("Members and requests")))
    if has_permission(user, membership, "manage_settings"):
        links.append((f"{base}/settings", _("Threshold, licence and categories")))
    return links


def network_page(request: Request) -> Response:
    """The network's public page: its members, its totals and its open data."""
    network, membership, user = load(request)
    page = page_number(request)
    all_months = Months(month_key(FIRST_DATE), month_key(today_for(request)))
    with services(request).db.read() as session:
        profile = networks.profile_of(session, network)
        rows = network_members.list_members(session, network=network, limit=PER_PAGE * page + 1)
        count = network_members.members_count(session, network)
        total = network_dashboard.total(session, network.id or 0, all_months)
        categories = networks.list_categories(session, network=network)
    shown = rows[(page - 1) * PER_PAGE : page * PER_PAGE]
    context = {
        "network": network,
        "profile": profile,
        "licence": networks.licence_of(profile),
        "members": [member_line(member) for member in shown],
        "members_count": count,
        "page": page,
        "has_next": len(rows) > page * PER_PAGE,
        "total": total,
        "total_value": euros(total.valued_cents),
        "categories": categories,
        "open_data": f"/api/v1/networks/{network.slug}/open-data.json",
        "manage_links": manager_links(network, user, membership),
    }
    return render(request, "networks/show.html", context)


def member_line(member: NetworkMember) -> dict[str, Any]:
    """A member as the public page shows it (no name nor host when anonymous)."""
    return {
        "name": network_members.public_name(member),
        "anonymous": member.anonymous,
        "host": "" if member.anonymous else network_members.host_of(member),
        "is_network": member.is_network,
    }


# Settings: threshold, licence, categories


def settings_context(request: Request, network: Association, **states: FormState) -> dict[str, Any]:
    """What the settings page shows, with the forms' states."""
    with services(request).db.read() as session:
        profile = networks.profile_of(session, network)
        active = networks.list_categories(session, network=network)
        archived = networks.list_categories(session, network=network, archived=True)
    profile_state = states.get("profile") or FormState.from_form(
        None, threshold=profile.threshold, licence=profile.open_data_licence
    )
    return {
        "network": network,
        "form": profile_state,
        "add_form": states.get("add") or FormState(),
        "rename_errors": states.get("rename") or FormState(),
        "licences": [(licence.id, licence.name) for licence in LICENCES.values()],
        "categories": active,
        "movable": [c for c in active if c.key != "other"],
        "archived": archived,
        "low": THRESHOLD_MIN,
        "high": THRESHOLD_MAX,
    }


def _render_settings(request: Request, network: Association, **states: FormState) -> Response:
    failed = any(state.errors for state in states.values())
    context = settings_context(request, network, **states)
    return render(request, "networks/settings.html", context, status=422 if failed else 200)


@form_view
@login_required
def settings(request: Request, form: FormData | None) -> Response:
    """Change the network's threshold and open-data licence; list its categories."""
    network, _membership, user = managed(request, "manage_settings")
    if form is None:
        return _render_settings(request, network)
    state = FormState.from_form(form)
    try:
        with services(request).db.write() as session:
            networks.update_profile(
                session,
                network=network,
                by=user,
                threshold=state.get("threshold"),
                licence=state.get("licence"),
            )
    except Invalid as error:
        return _render_settings(request, network, profile=state.fail(error))
    flash(request, _("The settings were saved."))
    return back(network, "settings")


@post_view
@login_required
def add_category(request: Request, form: FormData) -> Response:
    """Add a reference category at the end of the list."""
    network, _membership, user = managed(request, "manage_settings")
    state = FormState.from_form(form)
    try:
        with services(request).db.write() as session:
            made = networks.add_category(
                session, network=network, by=user, label=state.get("label")
            )
    except Invalid as error:
        return _render_settings(request, network, add=state.fail(error))
    flash(request, _("The category %(name)s was added.") % {"name": made.label})
    return back(network, "settings")


def _category_id(request: Request) -> int:
    found = request.path_params["category_id"]
    return found if 0 < found < MAX_ID else 0


@post_view
@login_required
def rename_category(request: Request, form: FormData) -> Response:
    """Change a category's name (its key, which members map onto, stays)."""
    network, _membership, user = managed(request, "manage_settings")
    label = str(form.get("label", ""))
    category_id = _category_id(request)
    try:
        with services(request).db.write() as session:
            category = networks.get_category(session, network=network, category_id=category_id)
            networks.rename_category(
                session, network=network, by=user, category=category, label=label
            )
    except Invalid as error:
        name = f"label-{category_id}"
        state = FormState(values={name: label}, errors={name: error.errors["label"]})
        return _render_settings(request, network, rename=state)
    flash(request, _("The category was renamed."))
    return back(network, "settings")


@post_view
@login_required
def move_category(request: Request, form: FormData) -> Response:
    """Move a category up or down the list."""
    network, _membership, user = managed(request, "manage_settings")
    step = -1 if form.get("direction") == "up" else 1
    try:
        with services(request).db.write() as session:
            category = networks.get_category(
                session, network=network, category_id=_category_id(request)
            )
            networks.move_category(session, network=network, by=user, category=category, step=step)
    except Conflict as error:
        flash(request, error.message, "error")
    return back(network, "settings")


@post_view
@login_required
def archive_category(request: Request, form: FormData) -> Response:
    """Archive a category (members no longer map onto it), or bring it back."""
    network, _membership, user = managed(request, "manage_settings")
    archived = form.get("archived") != "0"
    try:
        with services(request).db.write() as session:
            category = networks.get_category(
                session, network=network, category_id=_category_id(request)
            )
            networks.archive_category(
                session, network=network, by=user, category=category, archived=archived
            )
    except Conflict as error:
        flash(request, error.message, "error")
        return back(network, "settings")
    done = _("The category %(name)s is archived.") if archived else _("%(name)s is back.")
    flash(request, done % {"name": category.label})
    return back(network, "settings")


# Members and requests


@login_required
def members_page(request: Request) -> Response:
    """Requests to join waiting for an answer, and the members, for the network's managers."""
    network, _membership, _user = managed(request, "manage_members")
    with services(request).db.read() as session:
        everyone = network_members.list_members(
            session, network=network, status="all", limit=1_000_000
        )
    groups = {
        status: [m for m in everyone if m.status == status] for status in ("pending", "active")
    }
    context = {
        "network": network,
        "requests": [manager_line(member) for member in groups["pending"]],
        "members": [manager_line(member) for member in groups["active"]],
        "former": len([m for m in everyone if m.status in {"left", "refused"}]),
    }
    return render(request, "networks/members.html", context)


def manager_line(member: NetworkMember) -> dict[str, Any]:
    """A member or request as the network's managers see it."""
    return {
        "id": member.id,
        "name": network_members.display_name(member),
        "host": network_members.host_of(member),
        "actor": member.actor_uri,
        "anonymous": member.anonymous,
        "is_network": member.is_network,
        "asked_at": member.created_at,
    }


def _decide(request: Request, param: str, decision: str) -> Response:
    network, _membership, user = managed(request, "manage_members")
    done = {
        "accept": _("%(name)s is now a member of the network."),
        "refuse": _("The request of %(name)s is refused."),
        "remove": _("%(name)s is no longer a member of the network."),
    }[decision]
    try:
        with services(request).db.write() as session:
            member = network_members.get_member(
                session, network=network, member_id=request.path_params[param]
            )
            network_requests.decide(
                session,
                config=services(request).config,
                network=network,
                member=member,
                by=user,
                decision=decision,
            )
    except Conflict as error:
        flash(request, error.message, "error")
        return back(network, "members")
    flash(request, done % {"name": network_members.display_name(member)})
    return back(network, "members")


@post_view
@login_required
def accept(request: Request, form: FormData) -> Response:
    """Accept a request to join the network."""
    return _decide(request, "request_id", "accept")


@post_view
@login_required
def refuse(request: Request, form: FormData) -> Response:
    """Refuse a request to join the network."""
    return _decide(request, "request_id", "refuse")


@post_view
@login_required
def remove(request: Request, form: FormData) -> Response:
    """End a member's membership (its reports stay unless it asks for their removal)."""
    return _decide(request, "network_member_id", "remove")


BASE = "/associations/{slug}/network"
CATEGORY = BASE + "/categories/{category_id:int}"
routes = [
    Route(BASE, network_page, methods=["GET"]),
    Route(BASE + "/settings", settings, methods=["GET", "POST"]),
    Route(BASE + "/categories", add_category, methods=["POST"]),
    Route(CATEGORY, rename_category, methods=["POST"]),
    Route(CATEGORY + "/move", move_category, methods=["POST"]),
    Route(CATEGORY + "/archive", archive_category, methods=["POST"]),
    Route(BASE + "/members", members_page, methods=["GET"]),
    Route(BASE + "/requests/{request_id:int}/accept", accept, methods=["POST"]),
    Route(BASE + "/requests/{request_id:int}/refuse", refuse, methods=["POST"]),
    Route(BASE + "/members/{network_member_id:int}/remove", remove, methods=["POST"]),
]
