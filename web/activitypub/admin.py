"""The instance admin's federation page: deliveries, dead hosts, blocks.

GET /admin/federation; POST /admin/federation/blocks (a domain or an actor),
POST /admin/federation/blocks/{id}/delete, POST
/admin/federation/deliveries/{id}/retry. Instance admins only.
"""

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from federation import blocks, delivery_policy, delivery_queue, peers
from instance.errors import Invalid, NotFound
from instance.i18n import _
from schema.tables._base import utcnow
from web.flash import flash
from web.forms import FormState, post_view
from web.pages.admin import admin_required
from web.services import services
from web.templating import render

PAGE = "/admin/federation"


def _page(request: Request, form: FormState | None = None, status: int = 200) -> Response:
    with services(request).db.read() as session:
        context = {
            "counts": delivery_queue.counts_by_state(session),
            "problems": delivery_queue.finished_badly(session),
            "dead": peers.dead_hosts(session),
            "blocks": blocks.list_blocks(session),
            "form": form or FormState(),
        }
    return render(request, "federation_admin/index.html", context, status=status)


@admin_required
def overview(request: Request) -> Response:
    """Deliveries by state, expired and failed ones, dead hosts and blocks."""
    return _page(request)


@post_view
@admin_required
def add_block(request: Request, form: FormData) -> Response:
    """Block a domain or an account: their follows end and nothing more goes to them."""
    state = FormState.from_form(form, domain="", actor="", reason="")
    try:
        with services(request).db.write() as session:
            blocks.add_block(
                session,
                domain=state.get("domain"),
                actor_uri=state.get("actor"),
                reason=state.get("reason"),
            )
    except Invalid as error:
        return _page(request, state.fail(error), status=422)
    flash(request, _("The block is in place."))
    return RedirectResponse(PAGE, status_code=303)


@post_view
@admin_required
def remove_block(request: Request, form: FormData) -> Response:
    """Lift a block."""
    with services(request).db.write() as session:
        blocks.remove_block(session, block_id=request.path_params["block_id"])
    flash(request, _("The block is lifted."))
    return RedirectResponse(PAGE, status_code=303)


@post_view
@admin_required
def retry(request: Request, form: FormData) -> Response:
    """Queue an expired or failed delivery again."""
    try:
        with services(request).db.write() as session:
            delivery_queue.retry_delivery(
                session, delivery_id=request.path_params["delivery_id"], now=utcnow()
            )
    except delivery_policy.InvalidTransition:
        raise NotFound(_("This delivery cannot be retried.")) from None
    flash(request, _("The delivery will be tried again."))
    return RedirectResponse(PAGE, status_code=303)


routes = [
    Route(PAGE, overview, methods=["GET"]),
    Route(PAGE + "/blocks", add_block, methods=["POST"]),
    Route(PAGE + "/blocks/{block_id:int}/delete", remove_block, methods=["POST"]),
    Route(PAGE + "/deliveries/{delivery_id:int}/retry", retry, methods=["POST"]),
]
