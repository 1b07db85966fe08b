"""Pages: an association's categories, projects, levels with dated rates, and its rules.

The same pages serve the instance defaults (/admin/categories, /admin/levels),
copied to every new association, for the instance administrators.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from instance import summary_changes, taxonomy
from instance.errors import Forbidden, Invalid
from instance.i18n import N_, _
from instance.periods import FIRST_DATE, parse_date
from instance.valuation import euros, parse_euros
from schema.tables import Association, Level, Project
from schema.tables.associations import TRAVEL_TIME_POLICIES
from web.api.actions import association_for, today_for
from web.auth import current_user, login_redirect
from web.flash import flash
from web.forms import FormState, checked, form_view, post_view
from web.pages.actions import manage_links, redirect
from web.services import services
from web.templating import render

PLURALS = {"category": "categories", "project": "projects", "level": "levels"}
TITLES = {
    "category": N_("Categories"),
    "project": N_("Projects"),
    "level": N_("Qualification levels and hourly rates"),
}
POLICY_LABELS = {
    "none": N_("Not recorded"),
    "counted": N_("Counted in the hours and valued"),
    "separate": N_("Recorded and shown apart, not valued"),
}
DURATION = re.compile(r"^\s*(\d{1,4})\s*(?:(?:h|:)\s*(\d{1,2})?\s*(?:min)?)?\s*$", re.IGNORECASE)
MAX_RULE_MINUTES = 9999 * 60


@dataclass(frozen=True)
class Scope:
    """Whose entries a page shows: an association's, or the instance defaults (None)."""

    association: Association | None
    base: str
    links: list[tuple[str, str]]


def _scope(request: Request, kind: str) -> Scope:
    """The association of the path (manage_settings) or the instance (admins); else 403."""
    user = current_user(request)
    assert user is not None
    if "slug" not in request.path_params:
        if not user.is_admin:
            raise Forbidden(_("This page is for the administrators of this instance."))
        return Scope(None, f"/admin/{PLURALS[kind]}", [])
    with services(request).db.read() as session:
        association, caller = association_for(session, request.path_params["slug"], user)
    if not caller.may("manage_settings"):
        raise Forbidden(_("Only managers who may change the settings can do this."))
    base = f"/associations/{association.slug}/{PLURALS[kind]}"
    return Scope(association, base, manage_links(association, caller))


def _signed_in(view: Callable[..., Response]) -> Callable[..., Response]:
    def wrapper(request: Request, *args: Any) -> Response:
        if current_user(request) is None:
            return login_redirect(request)
        return view(request, *args)

    wrapper.__doc__ = view.__doc__
    return wrapper


def entry_data(kind: str, state: FormState, *, creating: bool) -> dict[str, Any]:
    """The fields of an entry form as the domain reads them."""
    data: dict[str, Any] = {"name": state.get("name"), "description": state.get("description")}
    if kind == "project":
        data["starts_on"], data["ends_on"] = state.get("starts_on"), state.get("ends_on")
    if kind == "level" and creating and state.get("hourly_rate").strip():
        data["hourly_rate"] = state.get("hourly_rate")
        if state.get("effective_from"):
            data["effective_from"] = state.get("effective_from")
    return data


def _entries_context(session: Session, kind: str, scope: Scope, today: date) -> dict[str, Any]:
    entries = taxonomy.list_entries(session, kind=kind, association=scope.association)
    rates = {}
    if kind == "level":
        for entry in entries:
            found = taxonomy.current_rate_cents(session, entry, today)
            rates[entry.id] = euros(found) if found is not None else None
    return {
        "kind": kind,
        "title": _(TITLES[kind]),
        "entries": [entry for entry in entries if not entry.archived],
        "archived": [entry for entry in entries if entry.archived],
        "rates": rates,
        "scope": scope,
        "manage_links": scope.links,
    }


def _list_view(kind: str) -> Callable[..., Any]:
    @form_view
    @_signed_in
    def view(request: Request, form: FormData | None) -> Response:
        scope = _scope(request, kind)
        state = FormState.from_form(form)
        if form is not None:
            try:
                values = taxonomy.read_entry_values(kind, entry_data(kind, state, creating=True))
                with services(request).db.write() as session:
                    entry = taxonomy.create_entry(
                        session, kind=kind, association=scope.association, values=values
                    )
                flash(request, _("“{name}” was added.").format(name=entry.name))
                return redirect(scope.base)
            except Invalid as error:
                state.fail(error)
        with services(request).db.read() as session:
            context = _entries_context(session, kind, scope, today_for(request))
        context["form"] = state
        status = 422 if state.errors else 200
        return render(request, "taxonomy/list.html", context, status=status)

    view.__doc__ = f"The {PLURALS[kind]}, and a form to add one."
    return view


def _entry_context(
    session: Session, kind: str, scope: Scope, entry: Any, form: FormState, rate: FormState
) -> dict[str, Any]:
    return {
        "kind": kind,
        "title": _(TITLES[kind]),
        "entry": entry,
        "rates": taxonomy.rates(session, entry) if isinstance(entry, Level) else [],
        "scope": scope,
        "form": form,
        "rate_form": rate,
        "manage_links": scope.links,
    }


def _entry_state(entry: Any) -> FormState:
    values = {"name": entry.name, "description": entry.description}
    if isinstance(entry, Project):
        values["starts_on"] = entry.starts_on.isoformat() if entry.starts_on else ""
        values["ends_on"] = entry.ends_on.isoformat() if entry.ends_on else ""
    return FormState.from_form(None, **values)


def _entry_view(kind: str) -> Callable[..., Any]:
    @form_view
    @_signed_in
    def view(request: Request, form: FormData | None) -> Response:
        scope = _scope(request, kind)
        entry_id = request.path_params["entry_id"]
        day = today_for(request)
        with services(request).db.read() as session:
            entry = taxonomy.get_entry(
                session, kind=kind, association=scope.association, entry_id=entry_id
            )
        state = _entry_state(entry) if form is None else FormState.from_form(form)
        if form is not None:
            try:
                values = taxonomy.read_entry_values(kind, entry_data(kind, state, creating=False))
                with services(request).db.write() as session:
                    row = taxonomy.get_entry(
                        session, kind=kind, association=scope.association, entry_id=entry_id
                    )
                    taxonomy.update_entry(session, entry=row, values=values, today=day)
                flash(request, _("The changes were saved."))
                return redirect(scope.base)
            except Invalid as error:
                state.fail(error)
        rate = FormState.from_form(None, effective_from=day.isoformat())
        with services(request).db.read() as session:
            context = _entry_context(session, kind, scope, entry, state, rate)
        status = 422 if state.errors else 200
        return render(request, "taxonomy/entry.html", context, status=status)

    view.__doc__ = f"Change one of the {PLURALS[kind]}."
    return view


def _archive_view(kind: str) -> Callable[..., Any]:
    @post_view
    @_signed_in
    def view(request: Request, form: FormData) -> Response:
        scope = _scope(request, kind)
        archived = form.get("archived") == "1"
        try:
            with services(request).db.write() as session:
                entry = taxonomy.get_entry(
                    session,
                    kind=kind,
                    association=scope.association,
                    entry_id=request.path_params["entry_id"],
                )
                taxonomy.update_entry(
                    session, entry=entry, values={"archived": archived}, today=today_for(request)
                )
            message = _("“{name}” is archived.") if archived else _("“{name}” is back in use.")
            flash(request, message.format(name=entry.name))
        except Invalid as error:
            flash(request, " ".join(error.errors.values()), "error")
        return redirect(scope.base)

    view.__doc__ = f"Archive one of the {PLURALS[kind]}, or bring it back."
    return view


@form_view
@_signed_in
def add_rate(request: Request, form: FormData | None) -> Response:
    """Give a level an hourly rate from a date on (the actions it covers are revalued)."""
    scope = _scope(request, "level")
    entry_id = request.path_params["entry_id"]
    rate = FormState.from_form(form)
    if form is None:
        return redirect(f"{scope.base}/{entry_id}")
    try:
        errors: dict[str, str] = {}
        start, cents = None, None
        try:
            start = parse_date(rate.get("effective_from"), field="effective_from")
            if start < FIRST_DATE:
                raise Invalid({"effective_from": _("Choose a date from 2000 on.")})
        except Invalid as error:
            errors.update(error.errors)
        try:
            cents = parse_euros(rate.get("hourly_rate"), field="hourly_rate")
        except Invalid as error:
            errors.update(error.errors)
        if errors or start is None or cents is None:
            raise Invalid(errors)
        with services(request).db.write() as session:
            level = taxonomy.get_entry(
                session, kind="level", association=scope.association, entry_id=entry_id
            )
            taxonomy.set_rate(session, level=level, effective_from=start, hourly_rate_cents=cents)
        flash(request, _("The rate was saved."))
        return redirect(f"{scope.base}/{entry_id}")
    except Invalid as error:
        rate.fail(error)
    with services(request).db.read() as session:
        entry = taxonomy.get_entry(
            session, kind="level", association=scope.association, entry_id=entry_id
        )
        context = _entry_context(session, "level", scope, entry, _entry_state(entry), rate)
    return render(request, "taxonomy/entry.html", context, status=422)


def parse_duration(value: str, *, field: str) -> int:
    """A duration typed as '4', '4:30' or '4h30', in minutes; raise Invalid."""
    match = DURATION.match(value or "")
    if not match:
        raise Invalid({field: _("Enter hours and minutes, like 4:30.")})
    hours, minutes = int(match.group(1)), int(match.group(2) or 0)
    if minutes > 59:
        raise Invalid({field: _("Enter at most 59 minutes.")})
    total = hours * 60 + minutes
    if total < 1 or total > MAX_RULE_MINUTES:
        raise Invalid({field: _("Enter a duration from 1 minute to 9999 hours.")})
    return total


def duration_value(minutes: int) -> str:
    """Minutes written as H:MM for a form."""
    return f"{minutes // 60}:{minutes % 60:02d}"


def read_rules(form: FormData, state: FormState, today: date) -> dict[str, Any]:
    """The rules typed in the form, checked; raise Invalid naming each field."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "requires_validation": checked(form, "requires_validation"),
        "uses_distance": checked(form, "uses_distance"),
    }
    policy = state.get("travel_time_policy")
    if policy not in TRAVEL_TIME_POLICIES:
        errors["travel_time_policy"] = _("Choose one of the options.")
    values["travel_time_policy"] = policy
    readers: dict[str, Callable[[str], Any]] = {
        "max_minutes_per_action": lambda v: parse_duration(v, field="max_minutes_per_action"),
        "half_day_minutes": lambda v: parse_duration(v, field="half_day_minutes"),
        "earliest_date": lambda v: _earliest(v, today),
        "default_hourly_rate_cents": lambda v: (
            parse_euros(v, field="default_hourly_rate_cents") if v.strip() else None
        ),
    }
    for name, reader in readers.items():
        try:
            values[name] = reader(state.get(name))
        except Invalid as error:
            errors.update(error.errors)
    if errors:
        raise Invalid(errors)
    return values


def _earliest(value: str, today: date) -> date | None:
    if not value.strip():
        return None
    day = parse_date(value, field="earliest_date")
    if day < FIRST_DATE or day > today:
        raise Invalid({"earliest_date": _("Choose a date from 2000 until today.")})
    return day


def _rules_state(association: Association) -> FormState:
    rate = association.default_hourly_rate_cents
    return FormState.from_form(
        None,
        requires_validation="on" if association.requires_validation else "",
        uses_distance="on" if association.uses_distance else "",
        travel_time_policy=association.travel_time_policy,
        earliest_date=association.earliest_date.isoformat() if association.earliest_date else "",
        max_minutes_per_action=duration_value(association.max_minutes_per_action),
        half_day_minutes=duration_value(association.half_day_minutes),
        default_hourly_rate_cents=euros(rate) if rate is not None else "",
    )


@form_view
@_signed_in
def rules(request: Request, form: FormData | None) -> Response:
    """The association's rules for actions: validation, travel, limits, default rate."""
    user = current_user(request)
    with services(request).db.read() as session:
        association, caller = association_for(session, request.path_params["slug"], user)
    if not caller.may("manage_settings"):
        raise Forbidden(_("Only managers who may change the settings can do this."))
    state = _rules_state(association) if form is None else FormState.from_form(form)
    if form is not None:
        try:
            values = read_rules(form, state, today_for(request))
            with services(request).db.write() as session:
                row = session.get(Association, association.id)
                assert row is not None and row.id is not None
                if row.travel_time_policy != values["travel_time_policy"]:  # minutes change
                    summary_changes.mark_association(session, association_id=row.id)
                for name, value in values.items():
                    setattr(row, name, value)
                session.add(row)
            flash(request, _("The rules were saved."))
            return redirect(f"/associations/{association.slug}/rules")
        except Invalid as error:
            state.fail(error)
    context = {
        "association": association,
        "form": state,
        "policies": [(value, _(label)) for value, label in POLICY_LABELS.items()],
        "manage_links": manage_links(association, caller),
    }
    return render(request, "taxonomy/rules.html", context, status=422 if state.errors else 200)


def _routes() -> list[BaseRoute]:
    found: list[BaseRoute] = []
    for kind, plural in PLURALS.items():
        bases = [f"/associations/{{slug}}/{plural}"]
        if kind != "project":
            bases.append(f"/admin/{plural}")
        for base in bases:
            found.append(Route(base, _list_view(kind), methods=["GET", "POST"]))
            found.append(
                Route(f"{base}/{{entry_id:int}}", _entry_view(kind), methods=["GET", "POST"])
            )
            found.append(
                Route(f"{base}/{{entry_id:int}}/archive", _archive_view(kind), methods=["POST"])
            )
            if kind == "level":
                found.append(
                    Route(f"{base}/{{entry_id:int}}/rates", add_rate, methods=["GET", "POST"])
                )
    found.append(Route("/associations/{slug}/rules", rules, methods=["GET", "POST"]))
    return found


routes = _routes()
