"""Pages: follow requests from other servers, for associations that approve followers by hand.

GET /associations/{slug}/follow-requests lists the requests waiting for an
answer; POST .../follow-requests/{follow_id}/accept and .../refuse answer one
(an Accept or Reject activity goes to the other server). Managers who may
change the association's settings only.
"""

from collections.abc import Callable

from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from federation import follows
from instance import associations
from instance.errors import Conflict, NotFound
from instance.i18n import _
from schema.tables import Association, Follow, RemoteActor, User
from web.auth import current_user, login_required
from web.flash import flash
from web.forms import post_view
from web.services import services
from web.templating import render

MAX_ID = 2**31


def account_name(remote: RemoteActor) -> str:
    """How people write a remote account: name@host, or its address when it has no name."""
    if remote.preferred_username:
        return f"{remote.preferred_username}@{remote.host}"
    return remote.uri


def profile_url(remote: RemoteActor) -> str:
    """The remote account's address when it is a web link, else an empty string."""
    return remote.uri if remote.uri.startswith(("https://", "http://")) else ""


def pending_requests(
    session: Session, association: Association
) -> list[tuple[Follow, RemoteActor]]:
    """The association's follow requests waiting for an answer, oldest first."""
    found = []
    for follow in follows.follow_requests(session, kind="association", owner_id=association.id):
        remote = session.get(RemoteActor, follow.remote_actor_id)
        if remote is not None:
            found.append((follow, remote))
    return found


def _managed(request: Request) -> tuple[Association, User]:
    """The association of the URL, for a manager who may change its settings."""
    user = current_user(request)
    assert user is not None
    with services(request).db.read() as session:
        association, membership = associations.get_visible(
            session, request.path_params["slug"], user
        )
    associations.require_permission(user, membership, "manage_settings")
    return association, user


@login_required
def requests_page(request: Request) -> Response:
    """The follow requests waiting for an answer, with Accept and Refuse buttons."""
    association, _user = _managed(request)
    with services(request).db.read() as session:
        rows = pending_requests(session, association)
        count = follows.followers_count(session, kind="association", owner_id=association.id)
    context = {
        "association": association,
        "requests": [
            {
                "id": follow.id,
                "account": account_name(remote),
                "name": remote.name,
                "url": profile_url(remote),
                "asked_at": follow.created_at,
            }
            for follow, remote in rows
        ],
        "followers_count": count,
    }
    return render(request, "associations/follow_requests.html", context)


Decision = Callable[..., Follow]


def _decide(request: Request, decide: Decision, done: str) -> Response:
    """Answer one request of this association, then go back to the list."""
    association, user = _managed(request)
    found = services(request)
    back = f"/associations/{association.slug}/follow-requests"
    follow_id = request.path_params["follow_id"]
    try:
        with found.db.write() as session:
            remote = _request_of(session, association, follow_id)
            decide(session, config=found.config, follow_id=follow_id, by=user)
    except Conflict as error:
        flash(request, error.message, "error")
        return RedirectResponse(back, status_code=303)
    flash(request, done % {"account": account_name(remote)})
    return RedirectResponse(back, status_code=303)


def _request_of(session: Session, association: Association, follow_id: int) -> RemoteActor:
    """The remote account behind a follow request of this association; NotFound otherwise."""
    follow = session.get(Follow, follow_id) if 0 < follow_id < MAX_ID else None
    if (
        follow is None
        or follow.direction != "in"
        or follow.local_kind != "association"
        or follow.local_id != association.id
    ):
        raise NotFound(_("No such follow request."))
    remote = session.get(RemoteActor, follow.remote_actor_id)
    if remote is None:
        raise NotFound(_("No such follow request."))
    return remote


@post_view
@login_required
def accept(request: Request, form: FormData) -> Response:
    """Accept a follow request: the account receives the association's public notes."""
    return _decide(request, follows.accept_follower, _("%(account)s now follows the association."))


@post_view
@login_required
def refuse(request: Request, form: FormData) -> Response:
    """Refuse a follow request."""
    return _decide(request, follows.reject_follower, _("The request of %(account)s is refused."))


BASE = "/associations/{slug}/follow-requests"
routes = [
    Route(BASE, requests_page, methods=["GET"]),
    Route(BASE + "/{follow_id:int}/accept", accept, methods=["POST"]),
    Route(BASE + "/{follow_id:int}/refuse", refuse, methods=["POST"]),
]
