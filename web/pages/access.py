"""Pages: access links for people without an account, and the pages such a link opens.

Managers who may manage members create named links (with an optional last
day), see them and revoke them. Opening /a/{token} remembers the link in that
browser's session; it may then record, list, correct and delete its own actions
in that one association, and nothing else.
"""

from datetime import date
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from instance import access_links, actions
from instance.action_rules import Caller
from instance.errors import Forbidden, Invalid
from instance.i18n import N_, _
from instance.periods import parse_date
from schema.tables import Association
from schema.tables._base import utcnow
from web.api.actions import association_for, today_for
from web.auth import current_user, login_required
from web.flash import flash
from web.forms import FormState, form_view, post_view
from web.pages.actions import (
    Actor,
    action_rows,
    delete_page,
    edit_page,
    last_action,
    manage_links,
    record_page,
    redirect,
    repeat_last,
)
from web.services import services
from web.templating import render

SESSION_KEY = "access_member"
STATE_LABELS = {"active": N_("Active"), "expired": N_("Expired"), "revoked": N_("Closed")}


def _managed(request: Request) -> tuple[Association, list[tuple[str, str]]]:
    user = current_user(request)
    with services(request).db.read() as session:
        association, caller = association_for(session, request.path_params["slug"], user)
    if not caller.may("manage_members"):
        raise Forbidden(_("Only managers who may manage members can do this."))
    return association, manage_links(association, caller)


def _expiry(state: FormState) -> date | None:
    raw = state.get("expires_on").strip()
    return parse_date(raw, field="expires_on") if raw else None


@form_view
@login_required
def links(request: Request, form: FormData | None) -> Response:
    """The association's access links; create one (its address is shown once)."""
    association, nav = _managed(request)
    user = current_user(request)
    assert user is not None
    found = services(request)
    state = FormState.from_form(form)
    new_url, status = "", 200
    if form is not None:
        try:
            with found.db.write() as session:
                _link, token = access_links.create_link(
                    session,
                    association=association,
                    by=user,
                    label=state.get("label"),
                    expires_on=_expiry(state),
                    today=today_for(request),
                    zone=found.config.zone,
                )
            new_url = f"{found.config.base_url}/a/{token}"
            state = FormState()
        except Invalid as error:
            state.fail(error)
            status = 422
    with found.db.read() as session:
        rows = access_links.list_links(session, association=association, by=user)
    context: dict[str, Any] = {
        "association": association,
        "links": rows,
        "states": {key: _(label) for key, label in STATE_LABELS.items()},
        "form": state,
        "new_url": new_url,
        "manage_links": nav,
        "last_days": {
            item.membership.id: access_links.last_day(item.membership, found.config.zone)
            for item in rows
        },
    }
    return render(request, "access/links.html", context, status=status)


@post_view
@login_required
def revoke(request: Request, form: FormData) -> Response:
    """Close an access link for good; the actions recorded with it stay."""
    association, _nav = _managed(request)
    user = current_user(request)
    assert user is not None
    with services(request).db.write() as session:
        link = access_links.get_link(
            session, association=association, by=user, link_id=request.path_params["link_id"]
        )
        access_links.revoke_link(session, link=link)
    flash(request, _("The link of {name} is closed.").format(name=link.label))
    return redirect(f"/associations/{association.slug}/access-links")


def open_link(request: Request) -> Response:
    """Open an access link: this browser may then record actions for that person."""
    user = current_user(request)
    if user is not None:
        context = {"name": user.display_name or user.username}
        return render(request, "access/logged_in.html", context, status=403)
    with services(request).db.read() as session:
        link = access_links.find_by_token(session, request.path_params["token"])
        state = access_links.state_of(link, utcnow()) if link is not None else "unknown"
        association = session.get(Association, link.association_id) if link else None
    if link is None or state != "active" or association is None:
        return render(
            request, "access/invalid.html", {"state": state}, status=404 if link is None else 410
        )
    language = request.session.get("language")
    request.session.clear()
    if language:
        request.session["language"] = language
    request.session[SESSION_KEY] = link.id
    return redirect("/access")


def link_actor(request: Request) -> tuple[Actor, Association]:
    """The access link this browser opened, if still valid; else a clear refusal."""
    if current_user(request) is not None:
        raise Forbidden(_("You are logged in: these pages are for access links only."))
    with services(request).db.read() as session:
        link = access_links.active_link(session, membership_id=request.session.get(SESSION_KEY))
        association = session.get(Association, link.association_id) if link else None
    if link is None or association is None:
        request.session.pop(SESSION_KEY, None)
        raise Forbidden(
            _("This access link is not valid any more. Ask the association for a new one.")
        )
    return Actor(None, link), association


def home(request: Request) -> Response:
    """The access link's page: record an action, see and correct one's own actions."""
    actor, association = link_actor(request)
    link = actor.link
    assert link is not None
    with services(request).db.read() as session:
        page = actions.list_actions(
            session,
            association=association,
            user=None,
            membership=link,
            cursor=request.query_params.get("cursor") or None,
            limit=20,
        )
        rows = action_rows(
            session, page.items, {association.id or 0: (association, Caller(None, link))}
        )
        last = last_action(session, link)
    context = {
        "association": association,
        "link": link,
        "rows": rows,
        "next": page.next,
        "has_last": last is not None,
        "expires": access_links.last_day(link, services(request).config.zone),
    }
    return render(request, "access/home.html", context)


@form_view
def new(request: Request, form: FormData | None) -> Response:
    """Record an action with an access link."""
    actor, association = link_actor(request)
    return record_page(request, form, actor, association)


@form_view
def edit(request: Request, form: FormData | None) -> Response:
    """Correct one's own action with an access link."""
    actor, _association = link_actor(request)
    return edit_page(request, form, actor, request.path_params["action_id"])


@form_view
def delete(request: Request, form: FormData | None) -> Response:
    """Delete one's own action with an access link, after confirmation."""
    actor, _association = link_actor(request)
    return delete_page(request, form, actor, request.path_params["action_id"])


@post_view
def repeat(request: Request, form: FormData) -> Response:
    """Repeat the link's last action, dated today."""
    actor, association = link_actor(request)
    return repeat_last(request, actor, association)


@post_view
def leave(request: Request, form: FormData) -> Response:
    """Forget the access link in this browser."""
    request.session.pop(SESSION_KEY, None)
    return render(request, "access/left.html", {})


routes = [
    Route("/associations/{slug}/access-links", links, methods=["GET", "POST"]),
    Route("/associations/{slug}/access-links/{link_id:int}/revoke", revoke, methods=["POST"]),
    Route("/a/{token}", open_link, methods=["GET"]),
    Route("/access", home, methods=["GET"]),
    Route("/access/new", new, methods=["GET", "POST"]),
    Route("/access/repeat", repeat, methods=["POST"]),
    Route("/access/leave", leave, methods=["POST"]),
    Route("/access/actions/{action_id:int}/edit", edit, methods=["GET", "POST"]),
    Route("/access/actions/{action_id:int}/delete", delete, methods=["GET", "POST"]),
]
