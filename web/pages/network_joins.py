"""Pages: the networks an association belongs to, asking to join one, leaving, the mapping.

GET/POST /associations/{slug}/networks (the list and the form asking to join
by the network's address), GET/POST .../networks/leave?network={id} (a
confirmation, with the choice to have our figures deleted), GET/POST
.../networks/mapping?network={id} (one choice per category of ours); without
?network= both list the networks to choose from. Managers who may change the
settings only.
"""

from typing import Any

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from federation import network_joins
from instance import associations, network_links
from instance.errors import Invalid, NotFound
from instance.i18n import N_, _
from instance.network_privacy import OTHER
from schema.tables import Association, NetworkLink, User
from web import csrf
from web.activitypub._client import federation_client
from web.auth import current_user, login_redirect, login_required
from web.flash import flash
from web.forms import FormState, checked, form_view
from web.services import services
from web.templating import render

STATUS_LABELS = {
    "pending": N_("Waiting for the network's answer"),
    "active": N_("Member"),
    "refused": N_("Refused"),
    "left": N_("Left"),
}


def managed(request: Request) -> tuple[Association, User]:
    """The association of the URL, for a manager who may change its settings."""
    user = current_user(request)
    assert user is not None
    with services(request).db.read() as session:
        association, membership = associations.get_visible(
            session, request.path_params["slug"], user
        )
    associations.require_permission(user, membership, "manage_settings")
    return association, user


def page_url(association: Association, suffix: str = "") -> str:
    """The address of the association's Networks page (or one under it)."""
    return f"/associations/{association.slug}/networks{suffix}"


def _line(session: Any, request: Request, link: NetworkLink) -> dict[str, Any]:
    config = services(request).config
    return {
        "id": link.id,
        "handle": network_links.handle_of(session, config, link),
        "name": network_links.name_of(session, config, link),
        "status": link.status,
        "status_label": _(STATUS_LABELS.get(link.status, link.status)),
        "anonymous": link.anonymous,
        "since": link.updated_at,
    }


def _list_page(
    request: Request, association: Association, state: FormState | None = None, status: int = 200
) -> Response:
    with services(request).db.read() as session:
        rows = network_links.list_links(session, association=association, limit=1000)
        lines = [_line(session, request, link) for link in rows]
    context = {
        "association": association,
        "links": lines,
        "form": state or FormState(),
        "domain": services(request).config.domain,
    }
    return render(request, "networks/joins.html", context, status=status)


@login_required
def _show(request: Request) -> Response:
    association, _user = managed(request)
    return _list_page(request, association)


def _join(
    request: Request, association: Association, user: User, target: Any, anonymous: bool
) -> None:
    found = services(request)
    with found.db.write() as session:
        row = session.get(Association, association.id)
        assert row is not None
        network_joins.request_join(
            session,
            config=found.config,
            association=row,
            by=user,
            target=target,
            anonymous=anonymous,
        )


async def networks_page(request: Request) -> Response:
    """The association's networks, and the form asking to join one by its address."""
    if request.method != "POST":
        return await run_in_threadpool(_show, request)
    user = current_user(request)
    if user is None:
        return login_redirect(request)
    form = await request.form(max_files=2, max_fields=200)
    csrf.check(request, form)
    association, _user = await run_in_threadpool(managed, request)
    state = FormState.from_form(form, network="")
    anonymous = checked(form, "anonymous")
    found = services(request)
    try:
        target = await network_joins.resolve(
            found.db, federation_client(request), found.config, state.get("network")
        )
        await run_in_threadpool(_join, request, association, user, target, anonymous)
    except Invalid as error:
        return await run_in_threadpool(_list_page, request, association, state.fail(error), 422)
    flash(request, _("Your request is sent. The network's managers will answer it."))
    return RedirectResponse(page_url(association), status_code=303)


def _link(request: Request, association: Association) -> NetworkLink | None:
    """The link named by ?network= (None when not given; 404 when not one of ours)."""
    raw = request.query_params.get("network")
    if raw is None:
        return None
    link_id = int(raw) if raw.isdigit() and len(raw) < 11 else 0
    with services(request).db.read() as session:
        return network_links.get_link(session, association=association, link_id=link_id)


def _fresh(session: Session, link: NetworkLink) -> NetworkLink:
    """The link read again in the writing session."""
    row = session.get(NetworkLink, link.id)
    if row is None:
        raise NotFound(_("No such network."))
    return row


def _choose(request: Request, association: Association, page: str, title: str) -> Response:
    """Without ?network=: the association's networks, each a link to the page for it."""
    with services(request).db.read() as session:
        rows = network_links.list_links(session, association=association, limit=1000)
        lines = [_line(session, request, link) for link in rows]
    if page == "mapping":
        lines = [line for line in lines if line["status"] in network_links.LIVE]
    context = {"association": association, "links": lines, "page": page, "title": title}
    return render(request, "networks/joins_choose.html", context)


@form_view
@login_required
def leave(request: Request, form: FormData | None) -> Response:
    """Confirm leaving a network; the figures sent to it can be deleted there too."""
    association, user = managed(request)
    link = _link(request, association)
    if link is None and form is None:
        return _choose(request, association, "leave", _("Leave a network"))
    if link is None:
        raise NotFound(_("No such network."))
    if form is None:
        with services(request).db.read() as session:
            line = _line(session, request, link)
        context = {"association": association, "link": line}
        return render(request, "networks/joins_leave.html", context)
    erase = checked(form, "erase")
    found = services(request)
    with found.db.write() as session:
        network_joins.leave(
            session,
            config=found.config,
            association=association,
            by=user,
            link=_fresh(session, link),
            erase=erase,
        )
    if erase:
        flash(request, _("You left the network. It is asked to delete the figures you sent."))
    else:
        flash(request, _("You left the network. Nothing more will be sent to it."))
    return RedirectResponse(page_url(association), status_code=303)


def _mapping_page(
    request: Request,
    association: Association,
    link: NetworkLink,
    state: FormState | None = None,
    status: int = 200,
) -> Response:
    config = services(request).config
    with services(request).db.read() as session:
        terms = network_joins.terms_for(session, config, link)
        rows = network_links.mapping_rows(session, link=link, association=association)
        line = _line(session, request, link)
    options = [*terms.categories.items(), (OTHER, _("Other"))]
    values = {f"category-{row['id']}": row["key"] for row in rows}
    form = state or FormState(values=values)
    context = {
        "association": association,
        "link": line,
        "rows": rows,
        "options": options,
        "form": form,
    }
    return render(request, "networks/joins_mapping.html", context, status=status)


@form_view
@login_required
def mapping(request: Request, form: FormData | None) -> Response:
    """Choose, for each category of ours, the network category its hours count under."""
    association, user = managed(request)
    link = _link(request, association)
    if link is None and form is None:
        return _choose(request, association, "mapping", _("Match our categories"))
    if link is None:
        raise NotFound(_("No such network."))
    if form is None:
        return _mapping_page(request, association, link)
    state = FormState.from_form(form)
    wanted = {
        key.removeprefix("category-"): value
        for key, value in state.values.items()
        if key.startswith("category-")
    }
    found = services(request)
    try:
        with found.db.write() as session:
            network_joins.set_mapping(
                session,
                config=found.config,
                association=association,
                by=user,
                link=_fresh(session, link),
                mapping=wanted,
            )
    except Invalid as error:
        messages = {
            "category-" + key.removeprefix("mapping."): text for key, text in error.errors.items()
        }
        state.errors.update(messages)
        if not messages.keys() & {f"category-{key}" for key in wanted}:
            state.errors["__all__"] = next(iter(error.errors.values()))
        return _mapping_page(request, association, link, state, 422)
    flash(request, _("The categories are saved. The next reports will use them."))
    return RedirectResponse(page_url(association), status_code=303)


BASE = "/associations/{slug}/networks"
routes = [
    Route(BASE, networks_page, methods=["GET", "POST"]),
    Route(BASE + "/leave", leave, methods=["GET", "POST"]),
    Route(BASE + "/mapping", mapping, methods=["GET", "POST"]),
]
