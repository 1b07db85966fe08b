"""Volunteer actions: record, correct, validate, refuse and delete them.

Every write keeps the rollups exact and adds a line to the audit trail in the
same transaction; every refusal raises before anything is written.
"""

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import bindparam, insert
from sqlmodel import Session, col, select

from instance import rollups
from instance.action_audit import history, log_event
from instance.action_decisions import MAX_BULK, refuse_actions, validate_actions
from instance.action_queries import ActionPage, list_actions, usernames, validation_queue
from instance.action_recording import (
    Prepared,
    create_action,
    new_values,
    plain_place,
    prepare_action,
    record_once,
    record_prepared,
    recorded_before,
    volunteer_of,
)
from instance.action_rules import (
    AUDITED,
    ActionFilters,
    Caller,
    caller_in,
    can_view,
    check_can_change,
    check_can_record,
    check_fields,
    is_id,
    read_fields,
    read_filters,
    snapshot,
)
from instance.associations import can_see
from instance.errors import Forbidden, Invalid, NotFound
from instance.i18n import _
from instance.valuation import rate_for
from schema.tables import Action, Association, Membership, User
from schema.tables._base import utcnow

# Filters are read by action_rules; they are part of this module's interface too.
__all__ = [
    "ActionFilters",
    "MAX_BULK",
    "ActionPage",
    "caller_in",
    "Prepared",
    "create_action",
    "create_group_actions",
    "delete_action",
    "delete_membership_actions",
    "find_action",
    "history",
    "list_actions",
    "log_event",
    "prepare_action",
    "read_filters",
    "record_prepared",
    "recorded_before",
    "record_once",
    "plain_place",
    "refuse_actions",
    "snapshot",
    "update_action",
    "usernames",
    "validate_actions",
    "validation_queue",
]

_INSERT_ACTION = insert(Action.__table__)  # type: ignore[attr-defined]
_ACTION_COLUMNS = [c.name for c in Action.__table__.columns if c.name != "id"]  # type: ignore[attr-defined]
MAX_GROUP = 200


_MEMBER_CHECK = select(Membership.association_id, Membership.status).where(
    Membership.id == bindparam("membership_id")
)


def _volunteer(
    session: Session, association: Association, caller: Caller, volunteer_id: int | None
) -> int:
    """The membership id an action is for (oneself or, for managers, an active member)."""
    assert association.id is not None
    own = caller.membership.id if caller.membership else None
    found = None
    if volunteer_id is not None and volunteer_id != own and caller.may_edit_all:
        found = session.exec(_MEMBER_CHECK, params={"membership_id": volunteer_id}).first()
    return volunteer_of(caller, association.id, volunteer_id, found)


def _new_values(
    session: Session, association: Association, data: Mapping[str, Any], today: date, lenient: bool
) -> dict[str, Any]:
    values = new_values(data, today, lenient)
    check_fields(session, association=association, values=values, changed=set(values), today=today)
    return values


def _insert(
    session: Session,
    association: Association,
    caller: Caller,
    volunteer_id: int,
    values: Mapping[str, Any],
    source: str,
) -> Action:
    assert association.id is not None
    # A sender's key names one recording: the actions of a group go without it.
    fields = {k: v for k, v in values.items() if k not in ("membership_id", "client_ref")}
    action = Action(
        **fields,
        association_id=association.id,
        membership_id=volunteer_id,
        status="pending" if association.requires_validation else "validated",
        source=source,
        created_by_id=caller.user_id,
        updated_by_id=caller.user_id,
    )
    action.rate_cents = rate_for(session, association, action.level_id, action.date)
    # A plain INSERT (no unit of work).
    row = {column: getattr(action, column) for column in _ACTION_COLUMNS}
    action.id = session.connection().execute(_INSERT_ACTION, row).inserted_primary_key[0]
    log_event(session, action, "create", snapshot(action), caller)
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
    actions = [_insert(session, association, caller, m.id or 0, values, source) for m in members]
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
        )
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
        log_event(session, action, "edit", diff, caller)
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
    log_event(session, action, "delete", snapshot(action), caller)
    rollups.record_change(session, rollups.state_of(action), None)
    session.delete(action)
    session.flush()


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
