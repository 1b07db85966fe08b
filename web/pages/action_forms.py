"""The action form: its choices, durations, fields as the domain reads them, and context."""

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session

from instance import actions, memberships, taxonomy
from instance.action_rules import Caller, distance_text, read_fields
from instance.errors import Invalid
from instance.i18n import _
from instance.valuation import duration_text
from schema.tables import Action, Association, Category, Level, Project
from web.forms import FormState

QUICK_MINUTES = (30, 60, 120)
MAX_HOURS_DIGITS = 5


@dataclass
class Choices:
    """What the action form offers in one association."""

    categories: list[Category]
    projects: list[Project]
    levels: list[Level]
    members: list[tuple[int, str]]


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


def posted_choices(session: Session, association: Association, state: FormState) -> Choices:
    """The projects and levels the form offered, loaded only when the form names one."""
    found: dict[str, list[Any]] = {"project": [], "level": []}
    for kind in found:
        if state.get(f"{kind}_id").strip():
            found[kind] = taxonomy.list_entries(
                session, kind=kind, association=association, include_archived=False
            )
    return Choices([], found["project"], found["level"], [])


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


def describe(action: Action, choices: Choices | str) -> str:
    """A short description of an action: its duration and category (or its name)."""
    if isinstance(choices, str):
        name = choices
    else:
        name = {category.id: category.name for category in choices.categories}.get(
            action.category_id, ""
        )
    return f"{duration_text(action.minutes)}, {name}".rstrip(", ")


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
