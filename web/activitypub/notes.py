"""Public notes of associations, and following remote accounts.

API: POST/GET /api/v1/associations/{slug}/notes, POST/GET
/api/v1/associations/{slug}/following. Pages: the managers' form
/associations/{slug}/notes/new and a note's public page
/associations/{slug}/notes/{id} (servers asking for ActivityPub get the Note
through web/negotiation.py).
"""

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from federation import documents, follows, notes, remote_actors, urls
from instance import associations
from instance.errors import Invalid
from instance.i18n import _
from instance.permissions import has_permission
from schema.tables import Association, Follow, PublicNote, RemoteActor, User
from web.activitypub._client import federation_client
from web.api.associations import check_body, decode_cursor, encode_cursor, limit_of, unauthorized
from web.auth import current_user, login_required
from web.flash import flash
from web.forms import FormState, form_view, json_view, read_json_object
from web.problems import problem
from web.services import services
from web.templating import render


def note_json(request: Request, association: Association, note: PublicNote) -> dict[str, Any]:
    """The shape of a note in the API."""
    assert note.id is not None
    config = services(request).config
    return {
        "id": note.id,
        "url": urls.note_uri(config, association.slug, note.id),
        "content": note.content,
        "published": documents.iso(note.published_at),
    }


def _visible(request: Request, user: User | None) -> tuple[Association, Any]:
    with services(request).db.read() as session:
        return associations.get_visible(session, request.path_params["slug"], user)


@json_view
def create_note(request: Request, data: dict[str, Any]) -> Response:
    """POST /api/v1/associations/{slug}/notes {"content"}: publish a public note (managers)."""
    user = current_user(request)
    if user is None:
        return unauthorized()
    association, mine = _visible(request, user)
    associations.require_permission(user, mine, "manage_settings")
    check_body(data, {"content": str}, required=("content",))
    found = services(request)
    with found.db.write() as session:
        note = notes.publish_note(
            session, config=found.config, association=association, by=user, content=data["content"]
        )
    return JSONResponse(note_json(request, association, note), status_code=201)


def list_notes(request: Request) -> Response:
    """GET /api/v1/associations/{slug}/notes: newest first, with cursors."""
    association, _mine = _visible(request, current_user(request))
    limit = limit_of(request)
    before = decode_cursor(request)
    if before is not None and (not isinstance(before, int) or isinstance(before, bool)):
        raise Invalid({"cursor": _("This cursor is not valid.")})
    with services(request).db.read() as session:
        rows = notes.notes_before(session, association, before_id=before, limit=limit + 1)
    page = rows[:limit]
    following = encode_cursor(page[-1].id) if len(rows) > limit else None
    return JSONResponse(
        {"items": [note_json(request, association, n) for n in page], "next": following}
    )


@form_view
@login_required
def new_note(request: Request, form: FormData | None) -> Response:
    """The managers' form to publish a note."""
    user = current_user(request)
    association, mine = _visible(request, user)
    associations.require_permission(user, mine, "manage_settings")
    state = FormState.from_form(form, content="")
    if form is None:
        return _form_page(request, association, state)
    found = services(request)
    try:
        with found.db.write() as session:
            assert user is not None
            notes.publish_note(
                session,
                config=found.config,
                association=association,
                by=user,
                content=state.get("content"),
            )
    except Invalid as error:
        return _form_page(request, association, state.fail(error), status=422)
    flash(request, _("Your note is published."))
    return RedirectResponse(f"/associations/{association.slug}/notes", status_code=303)


def _form_page(
    request: Request, association: Association, state: FormState, status: int = 200
) -> Response:
    context = {"association": association, "form": state, "limit": notes.CONTENT_MAX}
    return render(request, "notes/new.html", context, status=status)


def notes_page(request: Request) -> Response:
    """The association's notes, newest first, for everyone who may see it."""
    user = current_user(request)
    association, mine = _visible(request, user)
    with services(request).db.read() as session:
        rows = notes.recent_notes(session, association, limit=50)
        count = notes.followers_count(session, association)
    context = {
        "association": association,
        "notes": rows,
        "followers_count": count,
        "can_publish": has_permission(user, mine, "manage_settings"),
    }
    return render(request, "notes/list.html", context)


def note_page(request: Request) -> Response:
    """One note's public page."""
    association, _mine = _visible(request, current_user(request))
    with services(request).db.read() as session:
        note = notes.get_note(session, association, request.path_params["note_id"])
    return render(request, "notes/show.html", {"association": association, "note": note})


# -- following remote accounts -------------------------------------------------------


def following_json(follow: Follow, remote: RemoteActor) -> dict[str, Any]:
    """The shape of a followed account in the API."""
    name = remote.preferred_username
    return {
        "id": follow.id,
        "account": f"{name}@{remote.host}" if name else remote.uri,
        "actor": remote.uri,
        "state": follow.state,
    }


def _manager(request: Request, user: User) -> Association:
    association, mine = _visible(request, user)
    associations.require_permission(user, mine, "manage_settings")
    return association


def _follow(
    request: Request, association: Association, user: User, remote: RemoteActor
) -> Response:
    found = services(request)
    with found.db.write() as session:
        row = session.get(RemoteActor, remote.id)
        assert row is not None
        follow = follows.follow_remote(
            session, config=found.config, association=association, remote=row, by=user
        )
    return JSONResponse(following_json(follow, row), status_code=201)


async def follow_account(request: Request) -> Response:
    """POST /api/v1/associations/{slug}/following {"account": "name@host"} (managers)."""
    user = current_user(request)
    if user is None:
        return unauthorized()
    try:
        data = await read_json_object(request)
    except HTTPException as error:
        return problem(error.status_code, str(error.detail))
    association = await run_in_threadpool(_manager, request, user)
    check_body(data, {"account": str}, required=("account",))
    account = data["account"].strip()
    if not account or len(account) > 2048:
        raise Invalid({"account": _("Enter an account like name@example.org.")})
    found = services(request)
    try:
        remote = await remote_actors.resolve_handle(
            found.db, federation_client(request), found.config, account
        )
    except remote_actors.RemoteActorError:
        raise Invalid({"account": _("This account could not be found.")}) from None
    return await run_in_threadpool(_follow, request, association, user, remote)


def list_following(request: Request) -> Response:
    """GET /api/v1/associations/{slug}/following: the accounts it follows or asked to."""
    user = current_user(request)
    if user is None:
        return unauthorized()
    association = _manager(request, user)
    with services(request).db.read() as session:
        rows = follows.following(session, association=association)
    return JSONResponse({"items": [following_json(f, r) for f, r in rows], "next": None})


routes = [
    Route("/api/v1/associations/{slug}/notes", create_note, methods=["POST"]),
    Route("/api/v1/associations/{slug}/notes", list_notes, methods=["GET"]),
    Route("/api/v1/associations/{slug}/following", follow_account, methods=["POST"]),
    Route("/api/v1/associations/{slug}/following", list_following, methods=["GET"]),
    Route("/associations/{slug}/notes/new", new_note, methods=["GET", "POST"]),
    Route("/associations/{slug}/notes", notes_page, methods=["GET"]),
    Route("/associations/{slug}/notes/{note_id:int}", note_page, methods=["GET", "HEAD"]),
]
