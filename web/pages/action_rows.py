"""Showing actions: the rows of a list, one action's page and its audit trail."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlmodel import Session, col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from instance import actions, summaries
from instance.action_rules import Caller, check_can_change
from instance.errors import Forbidden
from instance.i18n import N_, _
from instance.valuation import euros, value_cents
from schema.tables import Action, ActionEvent, Association, Category, Level, Project
from web.auth import current_user, login_required
from web.formats import format_minutes
from web.pages.action_support import status_label
from web.services import services
from web.templating import render


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


@dataclass(frozen=True)
class RowNames:
    """Names of categories, projects, levels and volunteers (membership ids), by id."""

    categories: dict[int, str]
    projects: dict[int, str]
    levels: dict[int, str]
    volunteers: dict[int, str]


def _row_names(session: Session, items: Sequence[Any]) -> RowNames:
    return RowNames(
        _names(session, Category, (a.category_id for a in items)),
        _names(session, Project, (a.project_id for a in items)),
        _names(session, Level, (a.level_id for a in items)),
        summaries.volunteer_labels(session, list({a.membership_id for a in items})),
    )


@dataclass(frozen=True, slots=True)
class ActionRow:
    """One action as a list shows it (attributes: templates read them without a dict miss)."""

    action: Any
    association: Association
    category: str
    project: str
    level: str
    volunteer: str
    status: str
    editable: bool


def action_rows(
    session: Session,
    items: Sequence[Any],
    callers: dict[int, tuple[Association, Caller]],
    *,
    names: RowNames | None = None,
) -> list[ActionRow]:
    """What a list shows of each action: names of its entries, status, whether it is locked.

    `items`: Actions, or rows of the action table (lists read rows).

    `names`, when the page already holds them, saves looking the names up again.
    """
    if names is None:
        names = _row_names(session, items)
    categories, projects, levels = names.categories, names.projects, names.levels
    people = names.volunteers
    rows = []
    for action in items:
        association, caller = callers[action.association_id]
        rows.append(
            ActionRow(
                action=action,
                association=association,
                category=categories.get(action.category_id, ""),
                project=projects.get(action.project_id or 0, ""),
                level=levels.get(action.level_id or 0, ""),
                volunteer=people.get(action.membership_id, ""),
                status=status_label(action.status),
                editable=may_change(association, caller, action),
            )
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


routes = [Route("/actions/{action_id:int}", show, methods=["GET"])]
