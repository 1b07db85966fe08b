"""Pages: record an action in three taps, correct or delete it, repeat the last one.

Also the manager's pages that act on actions: entry for a group, the action page
with its audit trail, and the validation queue. The same form serves people with
an account and access links (web/pages/access.py): an ``Actor`` says who records
and where their pages are.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date
from typing import Any

from sqlmodel import Session, col, select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from instance import action_mails, actions, memberships, summaries, taxonomy
from instance.action_rules import (
    Caller,
    caller_in,
    check_can_change,
    check_can_record,
    distance_text,
    read_fields,
)
from instance.associations import can_see
from instance.errors import Forbidden, Invalid, NotFound
from instance.i18n import N_, _, ngettext
from instance.valuation import duration_text, euros, value_cents
from schema.tables import (
    Action,
    ActionEvent,
    Association,
    Category,
    Level,
    Membership,
    Project,
    User,
)
from web.api.actions import association_for, today_for
from web.auth import current_user, login_required
from web.flash import flash
from web.forms import FormState, form_view, post_view
from web.services import services
from web.templating import format_minutes, render

QUICK_MINUTES = (30, 60, 120)
MAX_HOURS_DIGITS = 5
STATUS_LABELS = {
    "validated": N_("Validated"),
    "pending": N_("Waiting for validation"),
    "refused": N_("Refused"),
}


@dataclass(frozen=True)
class Actor:
    """Who records: a signed-in person, or the holder of an access link."""

    user: User | None
    link: Membership | None = None

    @property
    def source(self) -> str:
        """How actions recorded by this actor are marked."""
        return "access_link" if self.link is not None else "web"

    def url(self, association: Association, page: str, action_id: int | None = None) -> str:
        """The address of one of the actor's pages."""
        if self.link is not None:
            base = "/access"
            pages = {"list": base, "new": f"{base}/new", "repeat": f"{base}/repeat"}
            own = f"{base}/actions/{action_id}"
        else:
            base = f"/associations/{association.slug}/actions"
            pages = {"list": base, "new": f"{base}/new", "repeat": f"{base}/repeat"}
            own = f"/actions/{action_id}"
        pages.update({"show": own, "edit": f"{own}/edit", "delete": f"{own}/delete"})
        return pages[page]


@dataclass
class Choices:
    """What the action form offers in one association."""

    categories: list[Category]
    projects: list[Project]
    levels: list[Level]
    members: list[tuple[int, str]]


def manage_links(association: Association, caller: Caller) -> list[tuple[str, str]]:
    """The management pages of the association this person may open."""
    base = f"/associations/{association.slug}"
    links: list[tuple[str, str]] = []
    if caller.may_view_all:
        links.append((f"{base}/actions", _("All actions")))
    if caller.may_edit_all:
        links.append((f"{base}/actions/pending", _("Validation")))
        links.append((f"{base}/actions/group", _("Group entry")))
    if caller.may_view_all:
        links.append((f"{base}/stats", _("Statistics")))
        links.append((f"{base}/stats/accounting", _("Accounting")))
    if caller.may("manage_members"):
        links.append((f"{base}/access-links", _("Access links")))
    if caller.may("manage_settings"):
        links.append((f"{base}/categories", _("Categories")))
        links.append((f"{base}/projects", _("Projects")))
        links.append((f"{base}/levels", _("Levels and rates")))
        links.append((f"{base}/rules", _("Rules")))
    return links


def redirect(url: str) -> RedirectResponse:
    """A 303 redirect (after a form)."""
    return RedirectResponse(url, status_code=303)


def status_label(status: str) -> str:
    """An action's status for people."""
    return _(STATUS_LABELS.get(status, status))


def last_action(session: Session, membership: Membership | None) -> Action | None:
    """The action most recently recorded for a membership."""
    if membership is None:
        return None
    query = (
        select(Action)
        .where(Action.membership_id == membership.id)
        .order_by(col(Action.created_at).desc(), col(Action.id).desc())
        .limit(1)
    )
    return session.exec(query).first()


def active_members(session: Session, association: Association) -> list[tuple[int, str]]:
    """(membership id, name) of every active member, by name."""
    rows, _total = memberships.list_members(
        session, association=association, status="active", per_page=actions.MAX_GROUP * 5
    )
    found = [(m.id, memberships.member_name(m, u)) for m, u in rows if m.id is not None]
    return sorted(found, key=lambda pair: pair[1].lower())


def _with_current(entries: list[Any], model: Any, entry_id: int | None, session: Session) -> None:
    if entry_id is not None and all(entry.id != entry_id for entry in entries):
        current = session.get(model, entry_id)
        if current is not None:
            entries.append(current)


def load_choices(
    session: Session, association: Association, *, manager: bool, action: Action | None = None
) -> Choices:
    """The live categories, projects, levels (and members, for managers) of the association."""
    found = {
        kind: taxonomy.list_entries(
            session, kind=kind, association=association, include_archived=False
        )
        for kind in ("category", "project", "level")
    }
    if action is not None:
        _with_current(found["category"], Category, action.category_id, session)
        _with_current(found["project"], Project, action.project_id, session)
        _with_current(found["level"], Level, action.level_id, session)
    members = active_members(session, association) if manager else []
    return Choices(found["category"], found["project"], found["level"], members)


def duration_options(association: Association) -> list[tuple[str, str]]:
    """The big duration buttons: 30 min, 1 h, 2 h, half a day, other."""
    options = [
        (str(m), duration_text(m)) for m in QUICK_MINUTES if m <= association.max_minutes_per_action
    ]
    half = association.half_day_minutes
    if half not in QUICK_MINUTES and half <= association.max_minutes_per_action:
        options.append(("half", _("Half day ({duration})").format(duration=duration_text(half))))
    options.append(("other", _("Other duration")))
    return options


def split_duration(association: Association, minutes: int) -> dict[str, str]:
    """Form values showing a number of minutes (a quick button when one fits)."""
    if minutes in QUICK_MINUTES:
        return {"duration": str(minutes), "hours": "", "mins": ""}
    if minutes == association.half_day_minutes:
        return {"duration": "half", "hours": "", "mins": ""}
    return {"duration": "other", "hours": str(minutes // 60), "mins": str(minutes % 60)}


def _whole(raw: str) -> int:
    raw = raw.strip()
    if not raw:
        return 0
    if raw.startswith("-") and raw[1:].isdigit():
        raise Invalid({"minutes": _("The duration must not be negative.")})
    if not raw.isdigit() or len(raw) > MAX_HOURS_DIGITS:
        raise Invalid({"minutes": _("Enter whole numbers of hours and minutes, like 1 and 30.")})
    return int(raw)


def read_duration(state: FormState, association: Association) -> int | None:
    """Minutes from the quick buttons or the hours and minutes fields; raise Invalid."""
    choice = state.get("duration")
    if choice in {str(m) for m in QUICK_MINUTES}:
        return int(choice)
    if choice == "half":
        return association.half_day_minutes
    if not state.get("hours").strip() and not state.get("mins").strip():
        return None
    hours, mins = _whole(state.get("hours")), _whole(state.get("mins"))
    if mins > 59:
        raise Invalid({"minutes": _("Enter at most 59 minutes; add the rest to the hours.")})
    return hours * 60 + mins


def form_data(
    state: FormState, association: Association, choices: Choices, *, manager: bool
) -> dict[str, Any]:
    """The fields of a form as the domain reads them (leniently); raise Invalid."""
    data: dict[str, Any] = {
        name: state.get(name) for name in ("date", "end_date", "title", "description")
    }
    for name, shown in (
        ("category_id", True),
        ("project_id", bool(choices.projects)),
        ("level_id", bool(choices.levels)),
        ("distance_km", association.uses_distance),
        ("travel_minutes", association.travel_time_policy != "none"),
        ("volunteer_id", manager),
    ):
        if shown and (name not in {"category_id", "volunteer_id"} or state.get(name)):
            data[name] = state.get(name).strip()
    try:
        minutes = read_duration(state, association)
    except Invalid as error:
        errors = dict(error.errors)
        try:
            read_fields(data, lenient=True)
        except Invalid as more:
            errors.update(more.errors)
        raise Invalid(errors) from None
    if minutes is not None:
        data["minutes"] = minutes
    return data


def fresh_state(
    association: Association, choices: Choices, last: Action | None, today: date, caller: Caller
) -> FormState:
    """A new form: today, the last category used, the person themselves."""
    live = {category.id for category in choices.categories}
    category = last.category_id if last is not None and last.category_id in live else ""
    if len(choices.categories) == 1:
        category = choices.categories[0].id or ""
    own = caller.membership
    volunteer = own.id if own is not None and own.status == "active" else ""
    return FormState.from_form(
        None, date=today.isoformat(), category_id=category, volunteer_id=volunteer
    )


def action_state(association: Association, action: Action) -> FormState:
    """A form showing an existing action."""
    values: dict[str, Any] = {
        "date": action.date.isoformat(),
        "end_date": action.end_date.isoformat() if action.end_date else "",
        "category_id": action.category_id,
        "project_id": action.project_id or "",
        "level_id": action.level_id or "",
        "title": action.title,
        "description": action.description,
        "distance_km": distance_text(action.distance_hundredths) or "",
        "travel_minutes": "" if action.travel_minutes is None else action.travel_minutes,
        "volunteer_id": action.membership_id,
        **split_duration(association, action.minutes),
    }
    return FormState.from_form(None, **values)


def describe(action: Action, choices: Choices) -> str:
    """A short description of an action: its duration and category."""
    names = {category.id: category.name for category in choices.categories}
    return f"{duration_text(action.minutes)}, {names.get(action.category_id, '')}".rstrip(", ")


def notify_pending(request: Request, created: Iterable[Action]) -> None:
    """Tell the managers (in a grouped digest) when actions wait for validation."""
    if not any(action.status == "pending" for action in created):
        return
    found = services(request)
    with found.db.write() as session:
        mails = action_mails.pending_digests(session, base_url=found.config.base_url)
    found.mailer.send(*mails)


def _entry_label(entry: Any) -> str:
    return _("{name} (archived)").format(name=entry.name) if entry.archived else entry.name


def form_context(
    association: Association, choices: Choices, state: FormState, **extra: Any
) -> dict[str, Any]:
    """What the action form template needs."""
    details = {"end_date", "project_id", "level_id", "title", "description"}
    details |= {"distance_km", "travel_minutes"}
    return {
        "association": association,
        "choices": choices,
        "form": state,
        "durations": duration_options(association),
        "open_details": bool(details & set(state.errors)),
        "radio_categories": len(choices.categories) <= 20,
        "member_options": [(str(i), name) for i, name in choices.members],
        "project_options": [(str(p.id), _entry_label(p)) for p in choices.projects],
        "level_options": [(str(level.id), _entry_label(level)) for level in choices.levels],
        **extra,
    }


def record_page(
    request: Request, form: FormData | None, actor: Actor, association: Association
) -> Response:
    """Show or handle the form recording one action."""
    found, day = services(request), today_for(request)
    with found.db.read() as session:
        caller = caller_in(session, association, actor.user, actor.link)
        if not can_see(association, actor.user, caller.membership):
            raise NotFound(_("No such association."))
        check_can_record(association, caller)
        manager = actor.link is None and caller.may_edit_all
        choices = load_choices(session, association, manager=manager)
        last = last_action(session, caller.membership)
    state = FormState.from_form(form)
    if form is None:
        state = fresh_state(association, choices, last, day, caller)
    else:
        try:
            data = form_data(state, association, choices, manager=manager)
            with found.db.write() as session:
                fresh = session.get(Association, association.id)
                assert fresh is not None
                created = actions.create_action(
                    session,
                    association=fresh,
                    user=actor.user,
                    membership=actor.link,
                    data=data,
                    today=day,
                    source=actor.source,
                    lenient=True,
                )
            notify_pending(request, [created])
            flash(request, _("Saved: {what}.").format(what=describe(created, choices)))
            return redirect(actor.url(association, "list"))
        except Invalid as error:
            state.fail(error)
    context = form_context(
        association,
        choices,
        state,
        heading=_("Record an action"),
        target=actor.url(association, "new"),
        cancel=actor.url(association, "list"),
        last=last,
        repeat_url=actor.url(association, "repeat"),
        manager=manager,
    )
    return render(request, "actions/form.html", context, status=422 if state.errors else 200)


def _changeable(
    session: Session, actor: Actor, action_id: int
) -> tuple[Action, Association, Caller]:
    action, association, caller = actions.find_action(
        session, action_id=action_id, user=actor.user, membership=actor.link
    )
    if actor.link is not None and not caller.owns(action):
        raise NotFound(_("No such action."))
    check_can_change(association, caller, action)
    return action, association, caller


def edit_page(request: Request, form: FormData | None, actor: Actor, action_id: int) -> Response:
    """Show or handle the form correcting one action."""
    found, day = services(request), today_for(request)
    with found.db.read() as session:
        action, association, caller = _changeable(session, actor, action_id)
        manager = actor.link is None and caller.may_edit_all
        choices = load_choices(session, association, manager=manager, action=action)
    state = action_state(association, action) if form is None else FormState.from_form(form)
    if form is not None:
        try:
            data = form_data(state, association, choices, manager=manager)
            with found.db.write() as session:
                row, _association, _caller = _changeable(session, actor, action_id)
                actions.update_action(
                    session,
                    action=row,
                    user=actor.user,
                    membership=actor.link,
                    data=data,
                    today=day,
                    lenient=True,
                )
            notify_pending(request, [row])
            flash(request, _("The action was changed."))
            return redirect(actor.url(association, "list"))
        except Invalid as error:
            state.fail(error)
    context = form_context(
        association,
        choices,
        state,
        heading=_("Change an action"),
        target=actor.url(association, "edit", action_id),
        cancel=actor.url(association, "list"),
        last=None,
        repeat_url="",
        manager=manager,
        action=action,
        status=status_label(action.status),
    )
    return render(request, "actions/form.html", context, status=422 if state.errors else 200)


def delete_page(request: Request, form: FormData | None, actor: Actor, action_id: int) -> Response:
    """Ask for confirmation, then delete one action."""
    found = services(request)
    with found.db.read() as session:
        action, association, _caller = _changeable(session, actor, action_id)
        category = session.get(Category, action.category_id)
    if form is not None:
        with found.db.write() as session:
            row, _association, _caller = _changeable(session, actor, action_id)
            actions.delete_action(session, action=row, user=actor.user, membership=actor.link)
        flash(request, _("The action was deleted."))
        return redirect(actor.url(association, "list"))
    context = {
        "association": association,
        "action": action,
        "category": category.name if category else "",
        "target": actor.url(association, "delete", action_id),
        "cancel": actor.url(association, "list"),
    }
    return render(request, "actions/delete.html", context)


def repeat_last(request: Request, actor: Actor, association: Association) -> Response:
    """Record the last action again, dated today."""
    found, day = services(request), today_for(request)
    try:
        with found.db.write() as session:
            fresh = session.get(Association, association.id)
            assert fresh is not None
            caller = caller_in(session, fresh, actor.user, actor.link)
            check_can_record(fresh, caller)
            last = last_action(session, caller.membership)
            if last is None:
                flash(request, _("You have no action to repeat yet."), "error")
                return redirect(actor.url(association, "new"))
            created = actions.create_action(
                session,
                association=fresh,
                user=actor.user,
                membership=actor.link,
                data=repeat_data(fresh, last, day),
                today=day,
                source=actor.source,
            )
            choices = Choices(
                [c for c in [session.get(Category, created.category_id)] if c], [], [], []
            )
    except Invalid as error:
        message = " ".join(error.errors.values())
        flash(
            request, _("Your last action could not be repeated: {why}").format(why=message), "error"
        )
        return redirect(actor.url(association, "new"))
    notify_pending(request, [created])
    flash(request, _("Saved again for today: {what}.").format(what=describe(created, choices)))
    return redirect(actor.url(association, "list"))


def repeat_data(association: Association, last: Action, day: date) -> dict[str, Any]:
    """The fields of a past action, dated today (only those the association uses)."""
    data: dict[str, Any] = {
        "date": day.isoformat(),
        "minutes": last.minutes,
        "category_id": last.category_id,
        "project_id": last.project_id,
        "level_id": last.level_id,
        "title": last.title,
        "description": last.description,
    }
    if association.uses_distance:
        data["distance_km"] = distance_text(last.distance_hundredths)
    if association.travel_time_policy != "none":
        data["travel_minutes"] = last.travel_minutes
    return data


def _user_actor(request: Request) -> Actor:
    return Actor(current_user(request))


def _association(request: Request) -> Association:
    with services(request).db.read() as session:
        association, _caller = association_for(
            session, request.path_params["slug"], current_user(request)
        )
    return association


@form_view
@login_required
def new(request: Request, form: FormData | None) -> Response:
    """Record an action in an association."""
    return record_page(request, form, _user_actor(request), _association(request))


@form_view
@login_required
def edit(request: Request, form: FormData | None) -> Response:
    """Correct an action (its volunteer, or a manager who may edit actions)."""
    return edit_page(request, form, _user_actor(request), request.path_params["action_id"])


@form_view
@login_required
def delete(request: Request, form: FormData | None) -> Response:
    """Delete an action, after confirmation."""
    return delete_page(request, form, _user_actor(request), request.path_params["action_id"])


@post_view
@login_required
def repeat(request: Request, form: FormData) -> Response:
    """Repeat my last action in this association, dated today."""
    return repeat_last(request, _user_actor(request), _association(request))


@login_required
def choose(request: Request) -> Response:
    """Record an action: straight to the form with one association, else choose first."""
    user = current_user(request)
    assert user is not None
    with services(request).db.read() as session:
        rows = [
            association
            for membership, association in memberships.memberships_of_user(session, user)
            if membership.status == "active" and not association.is_archived
        ]
    if len(rows) == 1:
        return redirect(f"/associations/{rows[0].slug}/actions/new")
    return render(request, "actions/choose.html", {"associations": rows})


def _names(session: Session, model: Any, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {entry_id for entry_id in ids if entry_id}
    if not wanted:
        return {}
    query = select(model.id, model.name).where(col(model.id).in_(wanted))
    return {entry_id: name for entry_id, name in session.exec(query)}


def may_change(association: Association, caller: Caller, action: Action) -> bool:
    """True when the caller may still edit or delete the action."""
    try:
        check_can_change(association, caller, action)
    except Forbidden:
        return False
    return True


def action_rows(
    session: Session, items: list[Action], callers: dict[int, tuple[Association, Caller]]
) -> list[dict[str, Any]]:
    """What a list shows of each action: names of its entries, status, whether it is locked."""
    categories = _names(session, Category, (a.category_id for a in items))
    projects = _names(session, Project, (a.project_id for a in items))
    levels = _names(session, Level, (a.level_id for a in items))
    people = summaries.volunteer_labels(session, list({a.membership_id for a in items}))
    rows = []
    for action in items:
        association, caller = callers[action.association_id]
        rows.append(
            {
                "action": action,
                "association": association,
                "category": categories.get(action.category_id, ""),
                "project": projects.get(action.project_id or 0, ""),
                "level": levels.get(action.level_id or 0, ""),
                "volunteer": people.get(action.membership_id, ""),
                "status": status_label(action.status),
                "editable": may_change(association, caller, action),
            }
        )
    return rows


FIELD_LABELS = {
    "volunteer_id": N_("Volunteer"),
    "date": N_("Date"),
    "end_date": N_("End date"),
    "minutes": N_("Duration"),
    "travel_minutes": N_("Travel time"),
    "category_id": N_("Category"),
    "project_id": N_("Project"),
    "level_id": N_("Qualification level"),
    "title": N_("Title"),
    "description": N_("Description"),
    "distance_km": N_("Distance (km)"),
    "status": N_("Status"),
    "refusal_reason": N_("Reason for refusal"),
}
EVENT_LABELS = {
    "create": N_("Recorded"),
    "edit": N_("Changed"),
    "validate": N_("Validated"),
    "refuse": N_("Refused"),
    "delete": N_("Deleted"),
}


def _trail_names(session: Session, events: list[ActionEvent]) -> dict[str, dict[Any, str]]:
    ids: dict[str, set[Any]] = {key: set() for key in ID_MODELS}
    for event in events:
        for key, value in event.changes.items():
            if key in ids:
                values = value if isinstance(value, list) else [value]
                ids[key].update(v for v in values if isinstance(v, int))
    found = {key: _names(session, model, ids[key]) for key, model in ID_MODELS.items() if model}
    found["volunteer_id"] = summaries.volunteer_labels(session, list(ids["volunteer_id"]))
    return found


ID_MODELS: dict[str, Any] = {
    "category_id": Category,
    "project_id": Project,
    "level_id": Level,
    "volunteer_id": None,
}


def _shown(key: str, value: Any, names: dict[str, dict[Any, str]]) -> str:
    if value is None or value == "":
        return "—"
    if key in names:
        return names[key].get(value, f"#{value}")
    if key in {"minutes", "travel_minutes"} and isinstance(value, int):
        return format_minutes(value)
    if key == "status":
        return status_label(str(value))
    return str(value)


def audit_trail(session: Session, events: list[ActionEvent], zone: Any) -> list[dict[str, Any]]:
    """The audit trail for people: when, who, what, and each field's change."""
    names = _trail_names(session, events)
    people = actions.usernames(session, (event.user_id for event in events))
    lines = []
    for event in events:
        changes = []
        for key, value in event.changes.items():
            label = _(FIELD_LABELS.get(key, key))
            if event.kind in {"create", "delete"}:
                if value not in (None, ""):
                    changes.append((label, None, _shown(key, value, names)))
            else:
                old, new = value if isinstance(value, list) and len(value) == 2 else (None, value)
                changes.append((label, _shown(key, old, names), _shown(key, new, names)))
        at = event.at if event.at.tzinfo else event.at.replace(tzinfo=UTC)
        lines.append(
            {
                "at": at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                "who": people.get(event.user_id or 0) or _("someone without an account"),
                "kind": _(EVENT_LABELS.get(event.kind, event.kind)),
                "changes": changes,
            }
        )
    return lines


@login_required
def show(request: Request) -> Response:
    """One action, with its audit trail for managers."""
    user = current_user(request)
    found = services(request)
    with found.db.read() as session:
        action, association, caller = actions.find_action(
            session, action_id=request.path_params["action_id"], user=user
        )
        row = action_rows(session, [action], {association.id or 0: (association, caller)})[0]
        trail: list[dict[str, Any]] = []
        if caller.may_view_all:
            events = actions.history(session, action_id=action.id, user=user)
            trail = audit_trail(session, events, found.config.zone)
    context = {
        "association": association,
        "row": row,
        "action": action,
        "trail": trail,
        "manager": caller.may_view_all,
        "value": value_text(association, action),
    }
    return render(request, "actions/show.html", context)


def value_text(association: Association, action: Action) -> str | None:
    """The value of an action in euros, or None when it is not valued."""
    if action.rate_cents is None:
        return None
    minutes = action.minutes
    if association.travel_time_policy == "counted":
        minutes += action.travel_minutes or 0
    return euros(value_cents(minutes, action.rate_cents))


def _id_list(raw: list[Any], field: str, message: str) -> list[int]:
    values = [value for value in raw if isinstance(value, str) and value.strip()]
    if not values:
        raise Invalid({field: message})
    if not all(value.strip().isdigit() and len(value.strip()) < 12 for value in values):
        raise Invalid({field: _("Choose from the list.")})
    return [int(value) for value in values]


def _manager_of(request: Request) -> tuple[Association, Caller, User]:
    user = current_user(request)
    assert user is not None
    with services(request).db.read() as session:
        association, caller = association_for(session, request.path_params["slug"], user)
    if not caller.may_edit_all:
        raise Forbidden(_("Only managers who may edit actions can do this."))
    return association, caller, user


@form_view
@login_required
def group(request: Request, form: FormData | None) -> Response:
    """Record the same action for several volunteers at once (a group at an event)."""
    association, caller, user = _manager_of(request)
    found, day = services(request), today_for(request)
    with found.db.read() as session:
        check_can_record(association, caller)
        choices = load_choices(session, association, manager=True)
    state = FormState.from_form(form)
    picked = {str(v) for v in form.getlist("volunteer_ids")} if form is not None else set()
    if form is None:
        state = fresh_state(association, choices, None, day, caller)
    else:
        try:
            errors: dict[str, str] = {}
            ids, data = [], {}
            for step in ("ids", "data"):
                try:
                    if step == "ids":
                        ids = _id_list(
                            form.getlist("volunteer_ids"),
                            "volunteer_ids",
                            _("Choose at least one volunteer."),
                        )
                    else:
                        data = form_data(state, association, choices, manager=False)
                except Invalid as error:
                    errors.update(error.errors)
            if errors:
                raise Invalid(errors)
            with found.db.write() as session:
                fresh = session.get(Association, association.id)
                assert fresh is not None
                created = actions.create_group_actions(
                    session,
                    association=fresh,
                    user=user,
                    data=data,
                    volunteer_ids=ids,
                    today=day,
                    lenient=True,
                )
            notify_pending(request, created)
            count = len(created)
            flash(
                request,
                ngettext(
                    "The action was saved for {count} volunteer.",
                    "The action was saved for {count} volunteers.",
                    count,
                ).format(count=count),
            )
            return redirect(f"/associations/{association.slug}/actions")
        except Invalid as error:
            state.fail(error)
    context = form_context(
        association,
        choices,
        state,
        heading=_("Record an action for a group"),
        target=f"/associations/{association.slug}/actions/group",
        cancel=f"/associations/{association.slug}/actions",
        last=None,
        repeat_url="",
        manager=False,
        group=True,
        picked=picked,
    )
    return render(request, "actions/form.html", context, status=422 if state.errors else 200)


def _decide(
    request: Request, association: Association, user: User, form: FormData, state: FormState
) -> int:
    found = services(request)
    ids: Any = []
    try:
        ids = _id_list(form.getlist("ids"), "ids", _("Choose at least one action."))
    except Invalid as error:
        if form.get("decision") != "refuse":
            raise
        state.fail(error)
    with found.db.write() as session:
        fresh = session.get(Association, association.id)
        assert fresh is not None
        if form.get("decision") == "refuse":
            decided = actions.refuse_actions(
                session, association=fresh, user=user, ids=ids or None, reason=state.get("reason")
            )
        else:
            decided = actions.validate_actions(session, association=fresh, user=user, ids=ids)
        mails = action_mails.decision_mails(
            session, actions=decided, base_url=found.config.base_url, decided_by=user
        )
    found.mailer.send(*mails)
    return len(decided)


@form_view
@login_required
def pending(request: Request, form: FormData | None) -> Response:
    """The actions waiting for validation: validate or refuse the ones ticked."""
    association, _caller, user = _manager_of(request)
    state = FormState.from_form(form)
    picked = {str(v) for v in form.getlist("ids")} if form is not None else set()
    if form is not None:
        try:
            count = _decide(request, association, user, form, state)
            refused = form.get("decision") == "refuse"
            message = (
                ngettext("{count} action was refused.", "{count} actions were refused.", count)
                if refused
                else ngettext(
                    "{count} action was validated.", "{count} actions were validated.", count
                )
            )
            flash(request, message.format(count=count))
            return redirect(f"/associations/{association.slug}/actions/pending")
        except Invalid as error:
            state.fail(error)
    cursor = request.query_params.get("cursor") or None
    with services(request).db.read() as session:
        page = actions.validation_queue(
            session, association=association, user=user, cursor=cursor, limit=50
        )
        caller = caller_in(session, association, user)
        rows = action_rows(session, page.items, {association.id or 0: (association, caller)})
    context = {
        "association": association,
        "rows": rows,
        "next": page.next,
        "form": state,
        "picked": picked,
    }
    return render(request, "actions/pending.html", context, status=422 if state.errors else 200)


routes = [
    Route("/actions/new", choose, methods=["GET"]),
    Route("/associations/{slug}/actions/new", new, methods=["GET", "POST"]),
    Route("/associations/{slug}/actions/repeat", repeat, methods=["POST"]),
    Route("/associations/{slug}/actions/group", group, methods=["GET", "POST"]),
    Route("/associations/{slug}/actions/pending", pending, methods=["GET", "POST"]),
    Route("/actions/{action_id:int}", show, methods=["GET"]),
    Route("/actions/{action_id:int}/edit", edit, methods=["GET", "POST"]),
    Route("/actions/{action_id:int}/delete", delete, methods=["GET", "POST"]),
]
