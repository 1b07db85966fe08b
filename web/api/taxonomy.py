"""API: an association's categories, projects and qualification levels (with dated rates)."""

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from instance import taxonomy
from instance.action_rules import Caller
from instance.errors import Forbidden, Invalid
from instance.i18n import _
from instance.periods import parse_date
from instance.permissions import is_active_member
from instance.valuation import euros, parse_euros
from schema.tables import Association, Level, LevelRate, Project, User
from web.api.actions import api_user, association_for, today_for
from web.forms import json_view
from web.services import services

PLURALS = {"category": "categories", "project": "projects", "level": "levels"}


def entry_json(session: Session, entry: Any, today: date) -> dict[str, Any]:
    """The API shape of a category, project or level."""
    found: dict[str, Any] = {
        "id": entry.id,
        "name": entry.name,
        "description": entry.description,
        "archived": entry.archived,
    }
    if isinstance(entry, Project):
        found["starts_on"] = entry.starts_on.isoformat() if entry.starts_on else None
        found["ends_on"] = entry.ends_on.isoformat() if entry.ends_on else None
    if isinstance(entry, Level):
        rates = taxonomy.rates(session, entry)
        current = [rate for rate in rates if rate.effective_from <= today]
        found["hourly_rate"] = euros(current[-1].hourly_rate_cents) if current else None
        found["rates"] = [rate_json(rate) for rate in rates]
    return found


def rate_json(rate: LevelRate) -> dict[str, Any]:
    """The API shape of a dated rate."""
    return {
        "effective_from": rate.effective_from.isoformat(),
        "hourly_rate": euros(rate.hourly_rate_cents),
    }


def _reader(session: Session, request: Request, user: User) -> tuple[Association, Caller]:
    association, caller = association_for(session, request.path_params["slug"], user)
    if not (
        is_active_member(caller.membership) or caller.may_view_all or caller.may("manage_settings")
    ):
        raise Forbidden(_("Only members may see this list."))
    return association, caller


def _writer(session: Session, request: Request, user: User) -> Association:
    association, caller = association_for(session, request.path_params["slug"], user)
    if not caller.may("manage_settings"):
        raise Forbidden(_("Only managers who may change the settings can do this."))
    return association


def _list(kind: str) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        user = api_user(request)
        with services(request).db.read() as session:
            association, _caller = _reader(session, request, user)
            entries = taxonomy.list_entries(session, kind=kind, association=association)
            day = today_for(request)
            return JSONResponse(
                {"items": [entry_json(session, entry, day) for entry in entries], "next": None}
            )

    endpoint.__doc__ = f"GET the {PLURALS[kind]} of an association (members)."
    return endpoint


def _create(kind: str) -> Callable[..., Any]:
    @json_view
    def endpoint(request: Request, data: dict[str, Any]) -> Response:
        user = api_user(request)
        with services(request).db.write() as session:
            association = _writer(session, request, user)
            values = taxonomy.read_entry_values(kind, data)
            if "name" not in data:
                values["name"] = None
            entry = taxonomy.create_entry(
                session, kind=kind, association=association, values=values
            )
            body = entry_json(session, entry, today_for(request))
        return JSONResponse(body, status_code=201)

    return endpoint


def _one(kind: str) -> Callable[..., Any]:
    @json_view
    def endpoint(request: Request, data: dict[str, Any]) -> Response:
        user = api_user(request)
        day = today_for(request)
        writing = request.method in {"PATCH", "DELETE"}
        database = services(request).db
        with database.write() if writing else database.read() as session:
            if writing:
                association = _writer(session, request, user)
            else:
                association, _caller = _reader(session, request, user)
            entry = taxonomy.get_entry(
                session,
                kind=kind,
                association=association,
                entry_id=request.path_params["entry_id"],
            )
            if request.method == "DELETE":
                outcome = taxonomy.remove_entry(session, entry=entry)
                if outcome == "deleted":
                    return Response(status_code=204)
            elif request.method == "PATCH":
                values = taxonomy.read_entry_values(kind, data)
                taxonomy.update_entry(session, entry=entry, values=values, today=day)
            return JSONResponse(entry_json(session, entry, day))

    return endpoint


@json_view
def add_rate_endpoint(request: Request, data: dict[str, Any]) -> Response:
    """POST a dated hourly rate to a level (manage_settings); covered actions are revalued."""
    user = api_user(request)
    with services(request).db.write() as session:
        association = _writer(session, request, user)
        level = taxonomy.get_entry(
            session,
            kind="level",
            association=association,
            entry_id=request.path_params["entry_id"],
        )
        errors: dict[str, str] = {}
        effective_from, cents = None, None
        try:
            effective_from = parse_date(data.get("effective_from"), field="effective_from")
        except Invalid as error:
            errors.update(error.errors)
        try:
            cents = parse_euros(data.get("hourly_rate"), field="hourly_rate")
        except Invalid as error:
            errors.update(error.errors)
        if errors:
            raise Invalid(errors)
        assert effective_from is not None and cents is not None
        taxonomy.set_rate(
            session, level=level, effective_from=effective_from, hourly_rate_cents=cents
        )
        return JSONResponse(entry_json(session, level, today_for(request)), status_code=201)


def _routes() -> list[BaseRoute]:
    found: list[BaseRoute] = []
    for kind, plural in PLURALS.items():
        base = f"/api/v1/associations/{{slug}}/{plural}"
        found.append(Route(base, _list(kind), methods=["GET"]))
        found.append(Route(base, _create(kind), methods=["POST"]))
        found.append(
            Route(f"{base}/{{entry_id:int}}", _one(kind), methods=["GET", "PATCH", "DELETE"])
        )
    found.append(
        Route(
            "/api/v1/associations/{slug}/levels/{entry_id:int}/rates",
            add_rate_endpoint,
            methods=["POST"],
        )
    )
    return found


routes: list[BaseRoute] = _routes()
