"""API: volunteer actions (list, record, correct, delete, validate, refuse, history).

Also the helpers the taxonomy and summary endpoints share: the token holder,
the association by slug (404 when hidden from them) and JSON shapes.
"""

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, and_, select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from instance import action_mails, actions
from instance.action_rules import Caller, distance_text
from instance.associations import can_see
from instance.errors import Invalid, NotFound
from instance.i18n import _
from instance.periods import today
from instance.valuation import euros, value_cents
from schema.tables import Action, ActionEvent, Association, Membership, User
from web.auth import bearer_token, current_user
from web.forms import json_view
from web.pending_mail import notify_pending
from web.services import services
from web.view_runner import on_loop

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def api_user(request: Request, session: Session | None = None) -> User:
    """The holder of the request's API token; raise 401 otherwise (`session`: an open read)."""
    user = current_user(request, session) if bearer_token(request) is not None else None
    if user is None:
        raise HTTPException(
            401,
            "Send a valid API token: Authorization: Bearer <token>.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


# One query for both, built once: this runs before every action write.
_ASSOCIATION_AND_MEMBERSHIP = (
    select(Association, Membership)
    .join(
        Membership,
        and_(
            Membership.association_id == Association.id,
            Membership.user_id == bindparam("user_id"),
        ),
        isouter=True,
    )
    .where(Association.slug == bindparam("slug"))
)


def association_for(session: Session, slug: str, user: User) -> tuple[Association, Caller]:
    """The association of the path and the caller in it; 404 when hidden from them."""
    params = {"slug": slug, "user_id": user.id}
    found = session.exec(_ASSOCIATION_AND_MEMBERSHIP, params=params).first()
    if found is None:
        raise NotFound(_("No such association."))
    association, membership = found
    caller = Caller(user=user, membership=membership)
    if not can_see(association, user, caller.membership):
        raise NotFound(_("No such association."))
    return association, caller


def plain_place(session: Session, slug: str, user: User) -> tuple[Association, Caller]:
    """As association_for, with plain objects that no session tracks (one Core read): for
    pages that only read them (recording, statistics)."""
    found = actions.plain_place(session, slug=slug, user=user)
    if found is None or not can_see(found[0], user, found[1]):
        raise NotFound(_("No such association."))
    return found[0], Caller(user=user, membership=found[1])


def today_for(request: Request) -> date:
    """Today in the instance time zone."""
    return today(services(request).config.zone)


def read_limit(request: Request) -> int:
    """The ?limit= of a list (default 50, at most 200); raise Invalid."""
    raw = request.query_params.get("limit", "")
    if not raw:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise Invalid({"limit": _("Enter a number from 1 to 200.")})
    return int(raw)


def stamp(moment: datetime | None) -> str | None:
    """A datetime as ISO 8601 with its offset."""
    return moment.isoformat() if moment is not None else None


def action_json(
    action: Action, association: Association, names: Mapping[int, str]
) -> dict[str, Any]:
    """The API shape of an action."""
    valued = None
    if action.rate_cents is not None:
        valued = value_cents(action.minutes, action.rate_cents)
        if association.travel_time_policy == "counted":
            valued += value_cents(action.travel_minutes or 0, action.rate_cents)
    return {
        "id": action.id,
        "date": action.date.isoformat(),
        "end_date": action.end_date.isoformat() if action.end_date else None,
        "minutes": action.minutes,
        "travel_minutes": action.travel_minutes,
        "category_id": action.category_id,
        "project_id": action.project_id,
        "level_id": action.level_id,
        "title": action.title,
        "description": action.description,
        "distance_km": distance_text(action.distance_hundredths),
        "volunteer_id": action.membership_id,
        "status": action.status,
        "refusal_reason": action.refusal_reason or None,
        "valued_amount": euros(valued),
        "created_at": stamp(action.created_at),
        "updated_at": stamp(action.updated_at),
        "created_by": names.get(action.created_by_id) if action.created_by_id else None,
    }


def actions_json(
    session: Session, items: list[Action], association: Association, user: User | None = None
) -> list[dict[str, Any]]:
    """The API shapes of several actions of one association (user: a known author)."""
    known = {user.id: user.username} if user is not None and user.id is not None else {}
    wanted = {action.created_by_id for action in items} - set(known)
    names = {**known, **actions.usernames(session, wanted)} if wanted else known
    return [action_json(action, association, names) for action in items]


@on_loop
def list_endpoint(request: Request) -> Response:
    """GET the actions of an association (volunteers: their own), newest first."""
    user = api_user(request)
    with services(request).db.read() as session:
        association, caller = association_for(session, request.path_params["slug"], user)
        page = actions.list_actions(
            session,
            association=association,
            user=user,
            membership=caller.membership,
            filters=actions.read_filters(request.query_params),
            cursor=request.query_params.get("cursor") or None,
            limit=read_limit(request),
        )
        items = actions_json(session, page.items, association)
    return JSONResponse({"items": items, "next": page.next})


@json_view
@on_loop
def create_endpoint(request: Request, data: dict[str, Any]) -> Response:
    """POST an action (or, with volunteer_ids, the same action for a group).

    An optional "client_ref" (8 to 64 letters, digits, - or _) makes the request
    safe to send again: the same key in the association answers 200 with the
    action recorded the first time, and records nothing.
    """
    db = services(request).db
    if "volunteer_ids" in data:
        return _create_group(request, data, api_user(request))
    # Everything is read and checked first, in one read; the write re-reads one row of state.
    with db.read() as session:
        user = api_user(request, session)
        association, caller = plain_place(session, request.path_params["slug"], user)
        prepared = actions.prepare_action(
            session,
            association=association,
            user=user,
            membership=caller.membership,
            data=data,
            today=today_for(request),
            source="api",
        )
    created, new = actions.record_once(db, prepared)
    body = action_json(created, association, {user.id: user.username} if user.id else {})
    notify_pending(request, [created])
    return JSONResponse(body, status_code=201 if new else 200)  # 200: its client_ref came before


def _create_group(request: Request, data: dict[str, Any], user: User) -> Response:
    with services(request).db.write() as session:
        association, caller = association_for(session, request.path_params["slug"], user)
        if "volunteer_id" in data:
            raise Invalid({"volunteer_id": _("Give volunteer_id or volunteer_ids, not both.")})
        created = actions.create_group_actions(
            session,
            association=association,
            user=user,
            membership=caller.membership,
            data=data,
            volunteer_ids=data["volunteer_ids"],
            today=today_for(request),
        )
        body: Any = actions_json(session, created, association, user)
    notify_pending(request, created)
    return JSONResponse({"items": body}, status_code=201)


def _found(session: Session, request: Request, user: User) -> tuple[Action, Association]:
    action, association, _caller = actions.find_action(
        session, action_id=request.path_params["action_id"], user=user
    )
    return action, association


def show_endpoint(request: Request) -> Response:
    """GET one action (404 when the caller may not see it)."""
    user = api_user(request)
    with services(request).db.read() as session:
        action, association = _found(session, request, user)
        return JSONResponse(actions_json(session, [action], association)[0])


@json_view
def change_endpoint(request: Request, data: dict[str, Any]) -> Response:
    """PATCH or DELETE one action (404 when hidden, 403 when it may not be changed)."""
    user = api_user(request)
    with services(request).db.write() as session:
        action, association = _found(session, request, user)
        if request.method == "DELETE":
            actions.delete_action(session, action=action, user=user)
            return Response(status_code=204)
        action = actions.update_action(
            session, action=action, user=user, data=data, today=today_for(request)
        )
        body = actions_json(session, [action], association)[0]
    notify_pending(request, [action])
    return JSONResponse(body)


def event_json(event: ActionEvent, names: Mapping[int, str]) -> dict[str, Any]:
    """The API shape of one line of the audit trail."""
    return {
        "id": event.id,
        "kind": event.kind,
        "at": stamp(event.at),
        "user": names.get(event.user_id) if event.user_id else None,
        "changes": event.changes,
    }


def history_endpoint(request: Request) -> Response:
    """GET the audit trail of an action (managers who see every action)."""
    user = api_user(request)
    with services(request).db.read() as session:
        events = actions.history(session, action_id=request.path_params["action_id"], user=user)
        names = actions.usernames(session, (event.user_id for event in events))
        return JSONResponse({"items": [event_json(event, names) for event in events], "next": None})


@json_view
def decide_endpoint(request: Request, data: dict[str, Any]) -> Response:
    """POST validate {"ids"} or refuse {"ids", "reason"}: bulk decisions (edit_actions)."""
    user = api_user(request)
    found = services(request)
    with found.db.write() as session:
        association, caller = association_for(session, request.path_params["slug"], user)
        if request.url.path.endswith("/validate"):
            decided = actions.validate_actions(
                session,
                association=association,
                user=user,
                membership=caller.membership,
                ids=data.get("ids"),
            )
        else:
            decided = actions.refuse_actions(
                session,
                association=association,
                user=user,
                membership=caller.membership,
                ids=data.get("ids"),
                reason=data.get("reason"),
            )
        body = actions_json(session, decided, association)
        mails = action_mails.decision_mails(
            session, actions=decided, base_url=found.config.base_url, decided_by=user
        )
    found.mailer.send(*mails)
    return JSONResponse({"items": body, "next": None})


routes: list[BaseRoute] = [
    Route("/api/v1/associations/{slug}/actions", list_endpoint, methods=["GET"]),
    Route("/api/v1/associations/{slug}/actions", create_endpoint, methods=["POST"]),
    Route("/api/v1/associations/{slug}/actions/validate", decide_endpoint, methods=["POST"]),
    Route("/api/v1/associations/{slug}/actions/refuse", decide_endpoint, methods=["POST"]),
    Route("/api/v1/actions/{action_id:int}", show_endpoint, methods=["GET"]),
    Route("/api/v1/actions/{action_id:int}", change_endpoint, methods=["PATCH", "DELETE"]),
    Route("/api/v1/actions/{action_id:int}/history", history_endpoint, methods=["GET"]),
]
