"""Managers' decisions on actions: validate or refuse several at once, with the rollups kept exact."""

from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, col, select

from instance import rollups
from instance.action_audit import log_event
from instance.action_rules import Caller, caller_in, check_reason, is_id
from instance.errors import Forbidden, Invalid
from instance.i18n import _
from schema.tables import Action, Association, Membership, User
from schema.tables._base import utcnow

MAX_BULK = 500


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
        log_event(session, action, "validate" if status == "validated" else "refuse", diff, caller)
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
