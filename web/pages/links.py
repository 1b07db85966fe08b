"""Pages: my accounts elsewhere (links asked from here) and requests to receive my hours.

GET/POST /account/links (the page, and the form adding an account), POST
/account/links/{id}/end, POST /account/link-requests/{id}/accept and /refuse,
POST /account/links/federation (turning federation on or off, explained).
"""

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from federation import links
from instance.errors import Conflict, Invalid
from instance.i18n import _
from schema.tables import User
from schema.tables.consolidation import LINK_STATUSES
from web import csrf
from web.activitypub._client import federation_client
from web.auth import current_user, login_redirect, login_required
from web.flash import flash
from web.forms import FormState, checked, post_view
from web.services import services
from web.templating import render

PAGE = "/account/links"


def _me(request: Request) -> User:
    user = current_user(request)
    assert user is not None
    return user


def _rows(rows: list[Any]) -> list[dict[str, Any]]:
    return [
        {"link": link, "account": links.account_of(remote), "status": LINK_STATUSES[link.state]}
        for link, remote in rows
    ]


def _page(request: Request, state: FormState | None = None, status: int = 200) -> Response:
    user = _me(request)
    found = services(request)
    with found.db.read() as session:
        mine = _rows(links.list_links(session, user=user, limit=None))
        asked = _rows(links.link_requests(session, user=user, limit=None))
    context = {
        "me": user,
        "domain": found.config.domain,
        "instance_federates": found.config.federation.enabled,
        "form": state or FormState(),
        "links": mine,
        "requests": [row for row in asked if row["status"] == "pending"],
        "receivers": [row for row in asked if row["status"] == "active"],
        "answered": [row for row in asked if row["status"] in {"refused", "ended"}],
    }
    return render(request, "links.html", context, status=status)


@login_required
def _show(request: Request) -> Response:
    return _page(request)


async def links_page(request: Request) -> Response:
    """My accounts elsewhere: the list, the form adding one, requests to receive my hours."""
    if request.method != "POST":
        return await run_in_threadpool(_show, request)
    user = current_user(request)
    if user is None:
        return login_redirect(request)
    form = await request.form(max_files=2, max_fields=200)
    csrf.check(request, form)
    state = FormState.from_form(form, account="")
    found = services(request)
    try:
        await links.request_link(
            found.db,
            federation_client(request),
            found.config,
            user=user,
            account=state.get("account"),
        )
    except Invalid as error:
        return await run_in_threadpool(_page, request, state.fail(error), 422)
    except Conflict as error:
        flash(request, error.message, "error")
        return RedirectResponse(PAGE, status_code=303)
    flash(
        request,
        _("Link asked. Now log in on the other instance and accept the request there."),
    )
    return RedirectResponse(PAGE, status_code=303)


@post_view
@login_required
def end(request: Request, form: FormData) -> Response:
    """End one of my links; with the box ticked, what it sent is deleted on both sides."""
    found = services(request)
    with found.db.write() as session:
        links.end_link(
            session,
            config=found.config,
            user=_me(request),
            link_id=request.path_params["link_id"],
            erase=checked(form, "erase"),
        )
    flash(request, _("The link is ended. Nothing more will be sent."))
    return RedirectResponse(PAGE, status_code=303)


def _decide(request: Request, accepted: bool) -> Response:
    found = services(request)
    decide = links.accept_request if accepted else links.refuse_request
    try:
        with found.db.write() as session:
            decide(
                session,
                config=found.config,
                user=_me(request),
                link_id=request.path_params["link_id"],
            )
    except Conflict as error:
        flash(request, error.message, "error")
        return RedirectResponse(PAGE, status_code=303)
    if accepted:
        flash(request, _("Accepted. Your monthly totals will be sent there."))
    else:
        flash(request, _("Done. Nothing will be sent there."))
    return RedirectResponse(PAGE, status_code=303)


@post_view
@login_required
def accept(request: Request, form: FormData) -> Response:
    """Accept a request: my monthly totals per association are sent there."""
    return _decide(request, True)


@post_view
@login_required
def refuse(request: Request, form: FormData) -> Response:
    """Refuse a request, or stop an active link."""
    return _decide(request, False)


@post_view
@login_required
def federation(request: Request, form: FormData) -> Response:
    """Turn federation on or off for me; off ends every link."""
    wanted = form.get("federation")
    if wanted not in {"on", "off"}:
        flash(request, _("Choose to turn federation on or off."), "error")
        return RedirectResponse(PAGE, status_code=303)
    found = services(request)
    if wanted == "on" and not found.config.federation.enabled:
        flash(request, _("This instance does not talk to other instances."), "error")
        return RedirectResponse(PAGE, status_code=303)
    with found.db.write() as session:
        links.set_federation(
            session, config=found.config, user=_me(request), enabled=wanted == "on"
        )
    if wanted == "on":
        flash(request, _("Federation is on. Other instances can now find your account."))
    else:
        flash(request, _("Federation is off. Your links are ended."))
    return RedirectResponse(PAGE, status_code=303)


routes = [
    Route(PAGE, links_page, methods=["GET", "POST"]),
    Route(PAGE + "/federation", federation, methods=["POST"]),
    Route(PAGE + "/{link_id:int}/end", end, methods=["POST"]),
    Route("/account/link-requests/{link_id:int}/accept", accept, methods=["POST"]),
    Route("/account/link-requests/{link_id:int}/refuse", refuse, methods=["POST"]),
]
