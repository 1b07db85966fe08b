"""The audit trail of actions: one line per change, kept after the action is deleted."""

from typing import Any

from sqlalchemy import bindparam, insert
from sqlmodel import Session, col, select

from instance.action_rules import Caller, caller_in, is_id
from instance.errors import Forbidden, NotFound
from instance.i18n import _
from schema.driver_statements import DriverStatement
from schema.tables import Action, ActionEvent, Association, Membership, User
from schema.tables._base import utcnow

_EVENT_COLUMNS = ("action_id", "association_id", "kind", "changes", "user_id", "at")
_LOG = DriverStatement(
    insert(ActionEvent.__table__).values(  # type: ignore[attr-defined]
        {name: bindparam(name) for name in _EVENT_COLUMNS}
    )
)


def log_event(
    session: Session, action: Action, kind: str, changes: dict[str, Any], caller: Caller
) -> None:
    """Add a line to the audit trail of an action (a plain INSERT, no unit of work)."""
    assert action.id is not None
    row = {
        "action_id": action.id,
        "association_id": action.association_id,
        "kind": kind,
        "changes": changes,
        "user_id": caller.user_id,
        "at": utcnow(),
    }
    _LOG.run(session.connection(), row)


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
