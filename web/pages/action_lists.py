"""Pages: the lists of actions, an association's (all of them for managers) and my own.

Lists show pending actions first, then the newest, twenty a page, with filters
and the totals of what the filters keep (instance/action_lists.py).
"""

from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session, col, func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from instance import action_lists, actions
from instance.action_lists import ListTotals, conditions, grouped_totals, pending_first_page
from instance.action_rules import Caller
from instance.errors import Forbidden, Invalid
from instance.i18n import _
from schema.tables import Action, Association, Membership, User
from web.api.actions import association_for
from web.auth import current_user, login_required
from web.pages.action_rows import RowNames, action_rows
from web.pages.action_support import manage_links
from web.services import services
from web.templating import render
from web.view_runner import on_loop

FILTERS = ("volunteer", "from", "to", "category", "project", "level", "status")
EXPORT_FORMATS = (("csv", "CSV"), ("ods", "ODS"), ("xlsx", "XLSX"), ("json", "JSON"))


def page_number(request: Request) -> int:
    """The ?page= number (1 when missing or wrong)."""
    raw = request.query_params.get("page", "1")
    return max(int(raw), 1) if raw.isdigit() and len(raw) < 7 else 1


def read_list_filters(request: Request) -> tuple[actions.ActionFilters, dict[str, str]]:
    """The list's filters from the query string, and the messages of those left out."""
    params = {name: request.query_params.get(name, "")[:40] for name in FILTERS}
    try:
        return actions.read_filters(params), {}
    except Invalid as error:
        return actions.ActionFilters(), error.errors


def _filter_choices(session: Session, association: Association) -> dict[str, Any]:
    """(id, name) pairs of each filter (the select compares the ids as text)."""
    entries = action_lists.entry_names(session, association.id or 0)
    members = action_lists.member_choices(session, association.id or 0)
    found = {
        "categories": entries["category"],
        "projects": entries["project"],
        "levels": entries["level"],
        "volunteers": members,
    }
    return found


def _row_names(choices: dict[str, Any]) -> RowNames:
    def named(name: str) -> dict[int, str]:
        return dict(choices[name])

    return RowNames(named("categories"), named("projects"), named("levels"), named("volunteers"))


def export_links(base: str, params: dict[str, str]) -> list[tuple[str, str]]:
    """Links to download what a page shows, in each format, with its filters."""
    query = urlencode({key: value for key, value in params.items() if value})
    suffix = f"?{query}" if query else ""
    return [(f"{base}.{fmt}{suffix}", label) for fmt, label in EXPORT_FORMATS]


def status_options() -> list[tuple[str, str]]:
    """The statuses for a filter."""
    return [
        ("pending", _("Waiting for validation")),
        ("validated", _("Validated")),
        ("refused", _("Refused")),
    ]


def _own_membership(caller: Caller) -> int | None:
    if caller.may_view_all:
        return None
    if caller.membership is None:
        raise Forbidden(_("Only members may see actions."))
    return caller.membership.id


@on_loop
@login_required
def association_actions(request: Request) -> Response:
    """The actions of an association: one's own, or all of them for managers."""
    user = current_user(request)
    filters, errors = read_list_filters(request)
    page = page_number(request)
    with services(request).db.read() as session:
        association, caller = association_for(session, request.path_params["slug"], user)
        own = _own_membership(caller)
        totals = action_lists.association_totals(
            session, association_id=association.id or 0, filters=filters, membership_id=own
        )
        # The totals count the list's pending actions exactly (rollups kept in step).
        params = action_lists.list_params(association.id or 0, filters, own)
        items, more = action_lists.association_page(session, params, page, totals.pending_actions)
        choices = _filter_choices(session, association) if caller.may_view_all else {}
        names = _row_names(choices) if choices else None
        callers = {association.id or 0: (association, caller)}
        rows = action_rows(session, items, callers, names=names)
        has_last = action_lists.has_actions(
            session, caller.membership.id if caller.membership is not None else None
        )
    params = {name: request.query_params.get(name, "")[:40] for name in FILTERS}
    context = {
        "association": association,
        "rows": rows,
        "totals": totals,
        "page": page,
        "has_next": more,
        "params": params,
        "query": urlencode({k: v for k, v in params.items() if v}),
        "errors": errors,
        "manager": caller.may_view_all,
        "may_edit": caller.may_edit_all,
        "choices": choices,
        "statuses": status_options(),
        "exports": export_links(f"/associations/{association.slug}/actions/export", params),
        "manage_links": manage_links(association, caller),
        "can_record": caller.membership is not None and caller.membership.status == "active",
        "has_last": has_last,
    }
    return render(request, "actions/list.html", context)


def my_memberships(session: Session, user: User) -> list[tuple[Membership, Association]]:
    """The person's memberships with their associations, by association name."""
    query = (
        select(Membership, Association)
        .join(Association, col(Membership.association_id) == Association.id)
        .where(Membership.user_id == user.id)
        .order_by(func.lower(Association.name))
    )
    return [(m, a) for m, a in session.exec(query)]


def _my_page(
    session: Session, ids: list[int], filters: actions.ActionFilters, page: int
) -> tuple[list[Action], bool, ListTotals]:
    dates = actions.ActionFilters(start=filters.start, end=filters.end)
    where = [col(Action.membership_id).in_(ids or [0]), *conditions(dates)]
    totals = grouped_totals(session, where)
    items, more = pending_first_page(session, where, page, totals.pending_actions)
    return items, more, totals


@on_loop
@login_required
def my_actions(request: Request) -> Response:
    """My actions in every association, with filters by association and dates."""
    user = current_user(request)
    assert user is not None
    filters, errors = read_list_filters(request)
    page = page_number(request)
    wanted = request.query_params.get("association", "")[:64]
    with services(request).db.read() as session:
        mine = my_memberships(session, user)
        callers = {a.id or 0: (a, Caller(user, m)) for m, a in mine}
        ids = [m.id for m, a in mine if m.id is not None and (not wanted or a.slug == wanted)]
        items, more, totals = _my_page(session, ids, filters, page)
        rows = action_rows(session, items, callers)
    params = {"association": wanted, "from": request.query_params.get("from", "")[:40]}
    params["to"] = request.query_params.get("to", "")[:40]
    context = {
        "rows": rows,
        "totals": totals,
        "page": page,
        "has_next": more,
        "params": params,
        "query": urlencode({k: v for k, v in params.items() if v}),
        "errors": errors,
        "associations": [a for _m, a in mine],
        "association_options": [(a.slug, a.name) for _m, a in mine],
        "exports": export_links("/me/actions/export", {"from": params["from"], "to": params["to"]}),
    }
    return render(request, "actions/mine.html", context)


routes = [
    Route("/associations/{slug}/actions", association_actions, methods=["GET"]),
    Route("/me/actions", my_actions, methods=["GET"]),
]
