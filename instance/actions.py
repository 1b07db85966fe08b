"""Volunteer actions: record, correct, validate, refuse and delete them.

Every write keeps the rollups exact and adds a line to the audit trail in the
same transaction; every refusal raises before anything is written.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, and_, col, or_, select

from instance import rollups
from instance.action_rules import (
    AUDITED,
    ActionFilters,
    Caller,
    caller_in,
    can_view,
    check_can_change,
    check_can_record,
    check_fields,
    check_reason,
    cursor_text,
    is_id,
    read_cursor,
    read_fields,
    read_filters,
    snapshot,
)
from instance.associations import can_see
from instance.errors import Forbidden, Invalid, NotFound
from instance.i18n import _
from instance.valuation import rate_for
from schema.tables import Action, ActionEvent, Association, Membership, User
from schema.tables._base import utcnow

# Filters are read by action_rules; they are part of this module's interface too.
__all__ = [
    "ActionFilters",
    "ActionPage",
    "caller_in",
    "create_action",
    "create_group_actions",
    "delete_action",
    "delete_membership_actions",
    "find_action",
    "history",
    "list_actions",
    "read_filters",
    "refuse_actions",
    "snapshot",
    "update_action",
    "usernames",
    "validate_actions",
    "validation_queue",
]

_LOG = insert(ActionEvent.__table__)  # type: ignore[attr-defined]
_INSERT_ACTION = insert(Action.__table__)  # type: ignore[attr-defined]
_ACTION_COLUMNS = [c.name for c in Action.__table__.columns if c.name != "id"]  # type: ignore[attr-defined]
MAX_GROUP = 200
MAX_BULK = 500
DEFAULTS: dict[str, Any] = {
    "end_date": None,
    "travel_minutes": None,
    "project_id": None,
    "level_id": None,
    "title": "",
    "description": "",
    "distance_hundredths": None,
}


def _log(
    session: Session, action: Action, kind: str, changes: dict[str, Any], caller: Caller
) -> None:
    assert action.id is not None
    row = {
        "action_id": action.id,
        "association_id": action.association_id,
        "kind": kind,
        "changes": changes,
        "user_id": caller.user_id,
        "at": utcnow(),
    }
    session.connection().execute(_LOG, row)


def _volunteer(
    session: Session, association: Association, caller: Caller, volunteer_id: int | None
) -> Membership:
    if volunteer_id is None or (caller.membership and volunteer_id == caller.membership.id):
        if caller.membership is None or caller.membership.status != "active":
            if caller.may_edit_all:
                raise Invalid({"volunteer_id": _("Choose the volunteer.")})
            raise Forbidden(_("Only active members may record actions."))
        return caller.membership
    if not caller.may_edit_all:
        raise Forbidden(_("You may only record your own actions."))
    found = session.get(Membership, volunteer_id)
    if found is None or found.association_id != association.id or found.status != "active":
        raise Invalid({"volunteer_id": _("Choose an active member of this association.")})
    return found


def _new_values(
    session: Session, association: Association, data: Mapping[str, Any], today: date, lenient: bool
) -> dict[str, Any]:
    errors: dict[str, str] = {}
    if "minutes" not in data:
        errors["minutes"] = _("Enter a duration.")
    if data.get("category_id") in (None, ""):
        errors["category_id"] = _("Choose a category.")
    try:
        values = {**DEFAULTS, "date": today, **read_fields(data, lenient=lenient)}
    except Invalid as error:
        raise Invalid({**error.errors, **errors}) from None
    if errors:
        raise Invalid(errors)
    check_fields(session, association=association, values=values, changed=set(values), today=today)
    return values


def _insert(
    session: Session,
    association: Association,
    caller: Caller,
    volunteer: Membership,
    values: Mapping[str, Any],
    source: str,
) -> Action:
    assert association.id is not None and volunteer.id is not None
    fields = {key: value for key, value in values.items() if key != "membership_id"}
    action = Action(
        **fields,
        association_id=association.id,
        membership_id=volunteer.id,
        status="pending" if association.requires_validation else "validated",
        source=source,
        created_by_id=caller.user_id,
        updated_by_id=caller.user_id,
    )
    action.rate_cents = rate_for(session, association, action.level_id, action.date)
    # A plain INSERT (no unit of work): recording is the hottest write of the instance.
    row = {column: getattr(action, column) for column in _ACTION_COLUMNS}
    action.id = session.connection().execute(_INSERT_ACTION, row).inserted_primary_key[0]
    _log(session, action, "create", snapshot(action), caller)
    return action


def create_action(
    session: Session,
    *,
    association: Association,
    user: User | None,
    membership: Membership | None = None,
    data: Mapping[str, Any],
    today: date,
    source: str = "web",
    lenient: bool = False,
) -> Action:
    """Record one action, for oneself or (managers with edit_actions) for a volunteer."""
    assert association.id is not None
    rollups.guard(session, association.id)
    caller = caller_in(session, association, user, membership)
    check_can_record(association, caller)
    values = _new_values(session, association, data, today, lenient)
    volunteer = _volunteer(session, association, caller, values.get("membership_id"))
    action = _insert(session, association, caller, volunteer, values, source)
    rollups.record_change(session, None, rollups.state_of(action))
    return action


def _group_members(
    session: Session, association: Association, caller: Caller, volunteer_ids: Any
) -> list[Membership]:
    if (
        not isinstance(volunteer_ids, list)
        or not volunteer_ids
        or not all(is_id(i) for i in volunteer_ids)
    ):
        raise Invalid({"volunteer_ids": _("Choose at least one volunteer.")})
    if len(volunteer_ids) > MAX_GROUP:
        raise Invalid({"volunteer_ids": _("Choose at most 200 volunteers at once.")})
    if len(set(volunteer_ids)) != len(volunteer_ids):
        raise Invalid({"volunteer_ids": _("Each volunteer may appear only once.")})
    own = caller.membership.id if caller.membership else None
    if not caller.may_edit_all and volunteer_ids != [own]:
        raise Forbidden(_("You may only record your own actions."))
    query = select(Membership).where(
        col(Membership.id).in_(volunteer_ids),
        Membership.association_id == association.id,
        Membership.status == "active",
    )
    found = {member.id: member for member in session.exec(query)}
    unknown = [str(i) for i in volunteer_ids if i not in found]
    if unknown:
        raise Invalid(
            {
                "volunteer_ids": _("Not an active member of this association: {ids}.").format(
                    ids=", ".join(unknown)
                )
            }
        )
    return [found[i] for i in volunteer_ids]


def create_group_actions(
    session: Session,
    *,
    association: Association,
    user: User | None,
    membership: Membership | None = None,
    data: Mapping[str, Any],
    volunteer_ids: Any,
    today: date,
    source: str = "group",
    lenient: bool = False,
) -> list[Action]:
    """Record the same action for several volunteers at once (one row each)."""
    assert association.id is not None
    rollups.guard(session, association.id)
    caller = caller_in(session, association, user, membership)
    check_can_record(association, caller)
    members = _group_members(session, association, caller, volunteer_ids)
    values = _new_values(session, association, data, today, lenient)
    actions = [_insert(session, association, caller, m, values, source) for m in members]
    assert association.id is not None
    rollups.record_changes(
        session, association.id, [(None, rollups.state_of(action)) for action in actions]
    )
    return actions


def find_action(
    session: Session, *, action_id: Any, user: User | None, membership: Membership | None = None
) -> tuple[Action, Association, Caller]:
    """An action the caller may see, its association and the caller; raise NotFound."""
    if not is_id(action_id):
        raise NotFound(_("No such action."))
    action = session.get(Action, action_id)
    if action is None:
        raise NotFound(_("No such action."))
    association = session.get(Association, action.association_id)
    assert association is not None
    caller = caller_in(session, association, user, membership)
    if not can_see(association, user, caller.membership) or not can_view(caller, action):
        raise NotFound(_("No such action."))
    return action, association, caller


def _locked(session: Session, action: Action) -> Action:
    """The action as now stored, locked until the transaction ends; raise NotFound."""
    query = (
        select(Action)
        .where(Action.id == action.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    found = session.exec(query).first()
    if found is None:
        raise NotFound(_("No such action."))
    return found


def update_action(
    session: Session,
    *,
    action: Action,
    user: User | None,
    membership: Membership | None = None,
    data: Mapping[str, Any],
    today: date,
    lenient: bool = False,
) -> Action:
    """Change some fields of an action (its volunteer, or a manager with edit_actions)."""
    rollups.guard(session, action.association_id)
    action = _locked(session, action)
    association = session.get(Association, action.association_id)
    assert association is not None
    caller = caller_in(session, association, user, membership)
    check_can_change(association, caller, action)
    changes = read_fields(data, lenient=lenient)
    changes = {key: value for key, value in changes.items() if getattr(action, key) != value}
    values = {column: getattr(action, column) for column in AUDITED} | changes
    check_fields(session, association=association, values=values, changed=set(changes), today=today)
    if "membership_id" in changes:
        changes["membership_id"] = _volunteer(
            session, association, caller, changes["membership_id"]
        ).id
    old_state, before = rollups.state_of(action), snapshot(action)
    for key, value in changes.items():
        setattr(action, key, value)
    if not caller.may_edit_all and action.status == "refused":
        action.status = "pending" if association.requires_validation else "validated"
        action.refusal_reason, action.notified_at = "", None  # announced again to managers
    if {"date", "level_id"} & set(changes):
        action.rate_cents = rate_for(session, association, action.level_id, action.date)
    after = snapshot(action)
    diff = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
    if diff:
        action.updated_at, action.updated_by_id = utcnow(), caller.user_id
        session.add(action)
        session.flush()
        _log(session, action, "edit", diff, caller)
        rollups.record_change(session, old_state, rollups.state_of(action))
    return action


def delete_action(
    session: Session, *, action: Action, user: User | None, membership: Membership | None = None
) -> None:
    """Delete an action (its volunteer, or a manager with edit_actions)."""
    rollups.guard(session, action.association_id)
    action = _locked(session, action)
    association = session.get(Association, action.association_id)
    assert association is not None
    caller = caller_in(session, association, user, membership)
    check_can_change(association, caller, action)
    _log(session, action, "delete", snapshot(action), caller)
    rollups.record_change(session, rollups.state_of(action), None)
    session.delete(action)
    session.flush()


def _bulk_targets(session: Session, association: Association, ids: Any) -> list[Action]:
    if not isinstance(ids, list) or not ids or not all(is_id(i) for i in ids):
        raise Invalid({"ids": _("Choose at least one action.")})
    if len(ids) > MAX_BULK:
        raise Invalid({"ids": _("Choose at most 500 actions at once.")})
    query = (
        select(Action)
        .where(col(Action.id).in_(ids), Action.association_id == association.id)
        .order_by(col(Action.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    found = {action.id: action for action in session.exec(query)}
    unknown = sorted({i for i in ids if i not in found})
    if unknown:
        raise Invalid(
            {
                "ids": _("No such action in this association: {ids}.").format(
                    ids=", ".join(str(i) for i in unknown)
                )
            }
        )
    return [found[i] for i in dict.fromkeys(ids)]


def _decide(
    session: Session,
    association: Association,
    caller: Caller,
    actions: Iterable[Action],
    status: str,
    reason: str,
) -> list[Action]:
    changes, decided, now = [], [], utcnow()
    for action in actions:
        if action.status == status and action.refusal_reason == reason:
            continue
        old = rollups.state_of(action)
        diff = {"status": [action.status, status]}
        if action.refusal_reason != reason:
            diff["refusal_reason"] = [action.refusal_reason, reason]
        action.status, action.refusal_reason = status, reason
        action.decided_at, action.decided_by_id = now, caller.user_id
        session.add(action)
        _log(session, action, "validate" if status == "validated" else "refuse", diff, caller)
        changes.append((old, rollups.state_of(action)))
        decided.append(action)
    assert association.id is not None
    rollups.record_changes(session, association.id, changes)
    session.flush()
    return decided


def _manager(
    session: Session, association: Association, user: User | None, membership: Membership | None
) -> Caller:
    caller = caller_in(session, association, user, membership)
    if not caller.may_edit_all:
        raise Forbidden(_("Only managers who may edit actions can do this."))
    return caller


def validate_actions(
    session: Session,
    *,
    association: Association,
    user: User | None,
    membership: Membership | None = None,
    ids: Any,
) -> list[Action]:
    """Validate actions of the association (edit_actions); returns those that changed."""
    caller = _manager(session, association, user, membership)
    rollups.guard(session, association.id or 0)
    actions = _bulk_targets(session, association, ids)
    return _decide(session, association, caller, actions, "validated", "")


def refuse_actions(
    session: Session,
    *,
    association: Association,
    user: User | None,
    membership: Membership | None = None,
    ids: Any,
    reason: Any,
) -> list[Action]:
    """Refuse actions of the association with a reason (edit_actions); returns those changed."""
    caller = _manager(session, association, user, membership)
    errors: dict[str, str] = {}
    actions: list[Action] = []
    try:
        reason = check_reason(reason)
    except Invalid as error:
        errors.update(error.errors)
    rollups.guard(session, association.id or 0)
    try:
        actions = _bulk_targets(session, association, ids)
    except Invalid as error:
        errors.update(error.errors)
    if errors:
        raise Invalid(errors)
    return _decide(session, association, caller, actions, "refused", reason)


def history(
    session: Session, *, action_id: Any, user: User | None, membership: Membership | None = None
) -> list[ActionEvent]:
    """The audit trail of an action, oldest first (managers who see every action)."""
    if not is_id(action_id):
        raise NotFound(_("No such action."))
    query = select(ActionEvent).where(ActionEvent.action_id == action_id)
    events = list(session.exec(query.order_by(col(ActionEvent.id))).all())
    association = session.get(Association, events[0].association_id) if events else None
    if association is None:
        raise NotFound(_("No such action."))
    caller = caller_in(session, association, user, membership)
    if not caller.may_view_all:
        action = session.get(Action, action_id)
        if action is not None and caller.owns(action):
            raise Forbidden(_("Only managers may see the history of an action."))
        raise NotFound(_("No such action."))
    return events


def delete_membership_actions(session: Session, *, membership: Membership) -> int:
    """Delete every action of a membership (before deleting the membership itself)."""
    rollups.guard(session, membership.association_id)
    query = select(Action).where(Action.membership_id == membership.id)
    actions = list(session.exec(query).all())
    changes = [(rollups.state_of(action), None) for action in actions]
    for action in actions:
        session.delete(action)
    rollups.record_changes(session, membership.association_id, changes)
    session.flush()
    return len(actions)


@dataclass(frozen=True)
class ActionPage:
    """One page of actions, newest first, and the cursor of the next page."""

    items: list[Action]
    next: str | None


def _filtered(query: Any, filters: ActionFilters) -> Any:
    for field in ("category_id", "project_id", "level_id", "status"):
        value = getattr(filters, field)
        if value is not None:
            query = query.where(getattr(Action, field) == value)
    if filters.volunteer_id is not None:
        query = query.where(Action.membership_id == filters.volunteer_id)
    if filters.start is not None:
        query = query.where(Action.date >= filters.start)
    if filters.end is not None:
        query = query.where(Action.date <= filters.end)
    return query


def list_actions(
    session: Session,
    *,
    association: Association,
    user: User | None,
    membership: Membership | None = None,
    filters: ActionFilters | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> ActionPage:
    """Actions of the association the caller may see (volunteers: their own), newest first."""
    caller = caller_in(session, association, user, membership)
    query = select(Action).where(Action.association_id == association.id)
    if not caller.may_view_all:
        if caller.membership is None or caller.membership.status != "active":
            raise Forbidden(_("Only members may see actions."))
        query = query.where(Action.membership_id == caller.membership.id)
    query = _filtered(query, filters or ActionFilters())
    if cursor:
        day, number = read_cursor(cursor)
        query = query.where(
            or_(Action.date < day, and_(Action.date == day, col(Action.id) < number))
        )
    query = query.order_by(col(Action.date).desc(), col(Action.id).desc()).limit(limit + 1)
    items = list(session.exec(query).all())
    more = len(items) > limit
    items = items[:limit]
    return ActionPage(items=items, next=cursor_text(items[-1]) if more else None)


def validation_queue(
    session: Session,
    *,
    association: Association,
    user: User | None,
    membership: Membership | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> ActionPage:
    """The actions awaiting validation, for managers who see every action."""
    caller = caller_in(session, association, user, membership)
    if not caller.may_view_all:
        raise Forbidden(_("Only managers may see the actions awaiting validation."))
    filters = ActionFilters(status="pending")
    return list_actions(
        session,
        association=association,
        user=user,
        membership=caller.membership,
        filters=filters,
        cursor=cursor,
        limit=limit,
    )


def usernames(session: Session, user_ids: Iterable[int | None]) -> dict[int, str]:
    """The usernames of these accounts, by id."""
    wanted = {user_id for user_id in user_ids if user_id is not None}
    if not wanted:
        return {}
    query = select(User.id, User.username).where(col(User.id).in_(wanted))
    return {user_id: name for user_id, name in session.exec(query) if user_id is not None}
