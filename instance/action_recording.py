"""Recording one action in two steps: every check in a read, then a short write.

Recording is the hottest write of an instance, and on SQLite writers take turns:
whatever runs inside the write transaction does not run in parallel. So
``prepare_action`` does the reading and checking in a read transaction (the
association's rules, the caller, the volunteer, the category, project and level,
the rate in force), with one statement that gathers every row the checks depend
on. ``record_prepared`` then, in the write transaction, reads that same statement
again: when nothing changed in between it writes the action, its audit line and
its rollups (plain Core statements); when anything changed (a category archived,
a member gone, a rate changed...), it checks everything again in the write
transaction, and refuses or records exactly as ``create_action`` would.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import bindparam, exists, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from instance import rollups
from instance.action_audit import log_event
from instance.action_rules import (
    Caller,
    Entry,
    caller_in,
    check_can_record,
    check_fields,
    read_fields,
    snapshot,
)
from instance.associations import can_see
from instance.errors import Forbidden, Invalid, NotFound
from instance.i18n import _
from schema.db import Database
from schema.driver_statements import DriverStatement, labelled, plain_object
from schema.tables import (
    Action,
    Association,
    Category,
    Follow,
    Level,
    LevelRate,
    Membership,
    NetworkLink,
    Project,
    User,
)
from schema.tables._base import utcnow

_ACTION_TABLE = Action.__table__  # type: ignore[attr-defined]
_ACTION_COLUMNS = [c.name for c in _ACTION_TABLE.columns if c.name != "id"]
_INSERT_ACTION = DriverStatement(
    insert(_ACTION_TABLE)
    .values({name: bindparam(name) for name in _ACTION_COLUMNS})
    .returning(_ACTION_TABLE.c.id)
)
#: A sender's key for one recording (see recorded_before).
CLIENT_REF = re.compile(r"[A-Za-z0-9_-]{8,64}")
DEFAULTS: dict[str, Any] = {
    "end_date": None,
    "travel_minutes": None,
    "project_id": None,
    "level_id": None,
    "title": "",
    "description": "",
    "distance_hundredths": None,
    "client_ref": None,
}
#: Columns of the association that the checks (and the new row) depend on.
ASSOCIATION_RULES = (
    "is_suspended",
    "is_archived",
    "is_hidden",
    "requires_validation",
    "travel_time_policy",
    "earliest_date",
    "max_minutes_per_action",
    "uses_distance",
    "default_hourly_rate_cents",
)
#: Columns of the caller's membership that their rights depend on.
CALLER_RIGHTS = ("association_id", "status", "role", "perm_view_actions", "perm_edit_actions")


def _state_statement() -> Any:
    """Every row a recording's checks depend on, in one statement (one row, NULLs for none)."""
    association = Association.__table__  # type: ignore[attr-defined]
    member = Membership.__table__  # type: ignore[attr-defined]
    caller, volunteer = member.alias("caller"), member.alias("volunteer")
    category = Category.__table__  # type: ignore[attr-defined]
    project = Project.__table__  # type: ignore[attr-defined]
    level = Level.__table__  # type: ignore[attr-defined]
    rates = LevelRate.__table__  # type: ignore[attr-defined]
    follow = Follow.__table__  # type: ignore[attr-defined]
    rate = (
        select(rates.c.hourly_rate_cents)
        .where(
            rates.c.level_id == bindparam("level_id"), rates.c.effective_from <= bindparam("day")
        )
        .order_by(rates.c.effective_from.desc())
        .limit(1)
        .scalar_subquery()
    )
    # Who may want to hear of the change (rollups._note_changes asks the same, in the write).
    linked = exists(
        select(follow.c.id)
        .join(member, member.c.user_id == follow.c.local_id)
        .where(
            member.c.id == bindparam("volunteer_id"),
            follow.c.direction == "in",
            follow.c.local_kind == "user",
        )
    )
    networked = exists(
        select(NetworkLink.id).where(NetworkLink.association_id == bindparam("association_id"))
    )
    joined = (
        association.outerjoin(caller, caller.c.id == bindparam("caller_id"))
        .outerjoin(volunteer, volunteer.c.id == bindparam("volunteer_id"))
        .outerjoin(category, category.c.id == bindparam("category_id"))
        .outerjoin(project, project.c.id == bindparam("project_id"))
        .outerjoin(level, level.c.id == bindparam("level_id"))
    )
    return (
        select(
            *(association.c[name] for name in ASSOCIATION_RULES),
            *(caller.c[name] for name in CALLER_RIGHTS),
            volunteer.c.association_id,
            volunteer.c.status,
            category.c.association_id,
            category.c.archived,
            category.c.name,
            project.c.association_id,
            project.c.archived,
            project.c.starts_on,
            project.c.ends_on,
            level.c.association_id,
            level.c.archived,
            rate,
            linked,
            networked,
        )
        .select_from(joined)
        .where(association.c.id == bindparam("association_id"))
    )


_STATE = DriverStatement(_state_statement())


def _place_statement() -> Any:
    """An association by slug with one person's membership in it (every column of both)."""
    association = Association.__table__  # type: ignore[attr-defined]
    member = Membership.__table__  # type: ignore[attr-defined]
    joined = association.outerjoin(
        member,
        (member.c.association_id == association.c.id) & (member.c.user_id == bindparam("user_id")),
    )
    columns = labelled(association, "a_") + labelled(member, "m_")
    return select(*columns).select_from(joined).where(association.c.slug == bindparam("slug"))


_PLACE = DriverStatement(_place_statement())


def plain_place(
    session: Session, *, slug: str, user: User
) -> tuple[Association, Membership | None] | None:
    """The association of a slug and the person's membership (None: no such association).

    One Core statement instead of two ORM entities: the objects are plain ones that
    no session tracks, only read (by a recording's checks, a statistics page;
    ``record_prepared`` reads the rows again when they changed).
    """
    found = _PLACE.first_named(session.connection(), {"slug": slug, "user_id": user.id})
    if found is None:
        return None
    association = plain_object(Association, found, "a_")
    assert association is not None
    return association, plain_object(Membership, found, "m_")


@dataclass(frozen=True)
class Prepared:
    """A checked recording, waiting for its write transaction."""

    association_id: int
    caller: Caller
    data: Mapping[str, Any]
    today: date
    source: str
    lenient: bool
    params: dict[str, Any]
    state: tuple[Any, ...]
    current: bool  # the association and caller objects checked match `state`
    row: dict[str, Any]
    category_name: str


def _known(association: Association, membership: Membership | None) -> tuple[Any, ...]:
    """What `state` should hold for these objects (the rules and rights they were checked by)."""
    rights = tuple(getattr(membership, name) if membership else None for name in CALLER_RIGHTS)
    return tuple(getattr(association, name) for name in ASSOCIATION_RULES) + rights


def new_values(data: Mapping[str, Any], today: date, lenient: bool) -> dict[str, Any]:
    """The typed fields of a new action (defaults filled in); raise Invalid naming each."""
    errors: dict[str, str] = {}
    if "minutes" not in data:
        errors["minutes"] = _("Enter a duration.")
    if data.get("category_id") in (None, ""):
        errors["category_id"] = _("Choose a category.")
    ref = data.get("client_ref")
    if ref not in (None, "") and (not isinstance(ref, str) or not CLIENT_REF.fullmatch(ref)):
        errors["client_ref"] = _("Send a key of 8 to 64 letters, digits, - or _.")
    try:
        values = {**DEFAULTS, "date": today, **read_fields(data, lenient=lenient)}
    except Invalid as error:
        raise Invalid({**error.errors, **errors}) from None
    if errors:
        raise Invalid(errors)
    values["client_ref"] = ref or None
    return values


def recorded_before(session: Session, association_id: int, client_ref: str | None) -> Action | None:
    """The action already recorded in the association under this sender's key (None: none).

    A phone that lost the answer to a recording sends it again with the same key
    (web/static/sw.js), as may an API client: the endpoints answer with this one.
    """
    if not client_ref:
        return None
    query = select(Action).where(
        Action.association_id == association_id,  # type: ignore[arg-type]
        Action.client_ref == client_ref,  # type: ignore[arg-type]
    )
    return session.scalars(query).first()


def volunteer_of(caller: Caller, association_id: int, asked: int | None, found: Any) -> int:
    """The membership an action is for: the caller's own, or (managers) an active member's.

    `found` is the asked membership's (association_id, status), None when there is none.
    """
    own = caller.membership
    if asked is None or (own is not None and asked == own.id):
        if own is None or own.status != "active":
            if caller.may_edit_all:
                raise Invalid({"volunteer_id": _("Choose the volunteer.")})
            raise Forbidden(_("Only active members may record actions."))
        assert own.id is not None
        return own.id
    if not caller.may_edit_all:
        raise Forbidden(_("You may only record your own actions."))
    if found is None or found[0] != association_id or found[1] != "active":
        raise Invalid({"volunteer_id": _("Choose an active member of this association.")})
    return asked


def prepare_action(
    session: Session,
    *,
    association: Association,
    user: User | None,
    membership: Membership | None = None,
    data: Mapping[str, Any],
    today: date,
    source: str = "web",
    lenient: bool = False,
) -> Prepared:
    """Check a new action without writing anything; raise Forbidden or Invalid."""
    assert association.id is not None
    caller = caller_in(session, association, user, membership)
    check_can_record(association, caller)
    values = new_values(data, today, lenient)
    asked = values.pop("membership_id", None)
    own = caller.membership.id if caller.membership else None
    params = {
        "association_id": association.id,
        "caller_id": caller.membership.id if caller.membership else None,
        "volunteer_id": own if asked is None else asked,
        "category_id": values["category_id"],
        "project_id": values["project_id"],
        "level_id": values["level_id"],
        "day": values["date"],
    }
    state = _STATE.first(session.connection(), params)
    if state is None:  # deleted since the association was read
        raise NotFound(_("No such association."))
    rules = len(ASSOCIATION_RULES) + len(CALLER_RIGHTS)
    (v_association, v_status, c_association, c_archived, c_name, *rest) = state[rules:]
    p_association, p_archived, p_starts, p_ends, l_association, l_archived, rate = rest[:7]
    entries = {
        Category: Entry(c_association, c_archived),
        Project: Entry(p_association, p_archived, p_starts, p_ends),
        Level: Entry(l_association, l_archived),
    }
    check_fields(
        session,
        association=association,
        values=values,
        changed=set(values),
        today=today,
        entries=entries,
    )
    found = (v_association, v_status) if v_association is not None else None
    volunteer = volunteer_of(caller, association.id, asked, found)
    row = {
        **values,
        "association_id": association.id,
        "membership_id": volunteer,
        "status": "pending" if association.requires_validation else "validated",
        "refusal_reason": "",
        "rate_cents": rate if rate is not None else association.default_hourly_rate_cents,
        "source": source,
        "created_by_id": caller.user_id,
        "updated_by_id": caller.user_id,
        "decided_by_id": None,
        "decided_at": None,
        "notified_at": None,
    }
    return Prepared(
        association_id=association.id,
        caller=caller,
        data=data,
        today=today,
        source=source,
        lenient=lenient,
        params=params,
        state=state,
        current=state[:rules] == _known(association, caller.membership),
        row=row,
        category_name=c_name or "",
    )


def _write(session: Session, prepared: Prepared) -> Action:
    """Insert a checked action, its audit line and its rollups (the state read is current)."""
    now = utcnow()
    row = {**prepared.row, "created_at": now, "updated_at": now}
    connection = session.connection()
    inserted = _INSERT_ACTION.first(connection, {c: row[c] for c in _ACTION_COLUMNS})
    assert inserted is not None
    # A plain object (no unit of work, no validation): the row was just checked and written.
    action = plain_object(Action, {"id": inserted[0], **row}, "")
    assert action is not None
    log_event(session, action, "create", snapshot(action), prepared.caller)
    linked, networked = prepared.state[-2:]
    rollups.record_change(session, None, rollups.state_of(action), listeners=(linked, networked))
    return action


def record_prepared(session: Session, prepared: Prepared) -> Action:
    """Record a prepared action in the write transaction, checking again whatever changed.

    Returns the action as written: a plain ``Action`` that no session tracks (read it
    again to change it).
    """
    rollups.guard(session, prepared.association_id)
    state = _STATE.first(session.connection(), prepared.params)
    if prepared.current and state == prepared.state:
        return _write(session, prepared)
    association = session.get(Association, prepared.association_id)
    caller = prepared.caller
    if association is None:
        raise NotFound(_("No such association."))
    membership = session.get(Membership, caller.membership.id) if caller.membership else None
    if not can_see(association, caller.user, membership):
        raise NotFound(_("No such association."))
    again = prepare_action(
        session,
        association=association,
        user=caller.user,
        membership=membership,
        data=prepared.data,
        today=prepared.today,
        source=prepared.source,
        lenient=prepared.lenient,
    )
    return _write(session, again)


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
    """Record one action, for oneself or (managers with edit_actions) for a volunteer.

    Checks and writes in the caller's transaction; endpoints that want a short
    write call ``prepare_action`` in a read and ``record_prepared`` in the write.
    Returns the action as written, untracked (see ``record_prepared``).
    """
    assert association.id is not None
    rollups.guard(session, association.id)
    prepared = prepare_action(
        session,
        association=association,
        user=user,
        membership=membership,
        data=data,
        today=today,
        source=source,
        lenient=lenient,
    )
    return _write(session, prepared)


def record_once(db: Database, prepared: Prepared) -> tuple[Action, bool]:
    """Record a prepared action in a write of its own, unless its sender's key was used before.

    Returns the action and whether it is new. Two sendings of one key at the same
    moment (PostgreSQL; SQLite's writers take turns) meet the unique index: the
    second then answers with the first one's action.
    """
    ref = prepared.row.get("client_ref")
    try:
        with db.write() as session:
            found = recorded_before(session, prepared.association_id, ref)
            if found is not None:
                return found, False
            return record_prepared(session, prepared), True
    except IntegrityError:
        if not ref:
            raise
        with db.read() as session:
            found = recorded_before(session, prepared.association_id, ref)
        if found is None:
            raise
        return found, False
