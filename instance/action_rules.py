"""The rules an action must follow: typed fields, the association's limits, who may do what.

``read_fields`` turns a JSON body (or, leniently, a form) into typed values,
naming each field at fault; ``check_fields`` applies the association's rules to
the action as it would become. Nothing here writes.
"""

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, select

from instance.associations import membership_of
from instance.errors import Forbidden, Invalid
from instance.i18n import _
from instance.periods import FIRST_DATE, parse_date
from instance.permissions import has_permission, is_active_member
from schema.tables import Action, Association, Category, Level, Membership, Project, User
from schema.tables.actions import ACTION_STATUSES

TITLE_MAX = 127
DESCRIPTION_MAX = 5000
REASON_MAX = 1000
MAX_DISTANCE_HUNDREDTHS = 9_999_999  # 99,999.99 km
MAX_ID = 2**31 - 1  # ids are 32-bit integers in every database


def is_id(value: Any) -> bool:
    """True for a value that may be a row id (an int, not a bool, in range)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


#: Fields a body may set, with the column each one fills.
FIELD_COLUMNS = {
    "date": "date",
    "end_date": "end_date",
    "minutes": "minutes",
    "travel_minutes": "travel_minutes",
    "category_id": "category_id",
    "project_id": "project_id",
    "level_id": "level_id",
    "title": "title",
    "description": "description",
    "distance_km": "distance_hundredths",
    "volunteer_id": "membership_id",
}
INPUT_FIELDS = {column: field for field, column in FIELD_COLUMNS.items()}
#: Columns recorded in the audit trail.
AUDITED = (
    "membership_id",
    "date",
    "end_date",
    "minutes",
    "travel_minutes",
    "category_id",
    "project_id",
    "level_id",
    "title",
    "description",
    "distance_hundredths",
    "status",
    "refusal_reason",
)


@dataclass(frozen=True)
class Caller:
    """Who acts: a signed-in person and/or their membership in the association."""

    user: User | None
    membership: Membership | None

    def may(self, permission: str) -> bool:
        """True when the caller holds a manager permission in the association."""
        return has_permission(self.user, self.membership, permission)

    @property
    def may_view_all(self) -> bool:
        """Managers who see every action of the association."""
        return self.may("view_actions") or self.may("edit_actions")

    @property
    def may_edit_all(self) -> bool:
        """Managers who enter, correct, validate and delete anyone's actions."""
        return self.may("edit_actions")

    @property
    def user_id(self) -> int | None:
        """The signed-in person's id, if any."""
        return self.user.id if self.user is not None else None

    def owns(self, action: Action) -> bool:
        """True when the action is the caller's own."""
        return self.membership is not None and self.membership.id == action.membership_id


def _integer(value: Any, field: str, *, lenient: bool, minimum: int = 0) -> int:
    if lenient and isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid({field: _("Enter a whole number.")})
    if value < minimum:
        if minimum == 0:
            raise Invalid({field: _("The number must not be negative.")})
        raise Invalid({field: _("Choose an entry from the list.")})
    if value > MAX_ID:
        raise Invalid({field: _("This number is too large.")})
    return value


def _text(value: Any, field: str, maximum: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or "\x00" in value:
        raise Invalid({field: _("Enter some text.")})
    if len(value.strip()) > maximum:
        raise Invalid({field: _("This text is too long.")})
    return value.strip()


def parse_distance(value: Any, *, field: str = "distance_km") -> int | None:
    """Kilometres (string or number, 2 decimals at most) as hundredths; raise Invalid."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Invalid({field: _("Enter a distance in kilometres, like 12.5.")})
    try:
        amount = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise Invalid({field: _("Enter a distance in kilometres, like 12.5.")}) from None
    if not amount.is_finite():
        raise Invalid({field: _("Enter a distance in kilometres, like 12.5.")})
    if amount < 0:
        raise Invalid({field: _("The distance must not be negative.")})
    hundredths = amount * 100
    if hundredths != hundredths.to_integral_value():
        raise Invalid({field: _("Use at most 2 decimals.")})
    if hundredths > MAX_DISTANCE_HUNDREDTHS:
        raise Invalid({field: _("This distance is too large.")})
    return int(hundredths)


def duration_choices(association: Association) -> list[tuple[int, str]]:
    """The quick durations offered when recording: 30 min, 1 h, 2 h and a half day."""
    half_day = association.half_day_minutes
    choices = [(30, _("30 min")), (60, _("1 hour")), (120, _("2 hours"))]
    choices.append((half_day, _("Half a day")))
    return sorted(dict(choices).items())


def distance_text(hundredths: int | None) -> str | None:
    """Hundredths of a kilometre as a decimal string ('12.50'), None stays None."""
    if hundredths is None:
        return None
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def _reader(field: str, lenient: bool) -> Any:
    optional = field in {"end_date", "travel_minutes", "project_id", "level_id", "volunteer_id"}

    def read(value: Any) -> Any:
        if optional and (value is None or (lenient and value == "")):
            return None
        if field in {"date", "end_date"}:
            return parse_date(value, field=field)
        if field in {"minutes", "travel_minutes"}:
            return _integer(value, field, lenient=lenient)
        if field.endswith("_id"):
            return _integer(value, field, lenient=lenient, minimum=1)
        if field == "distance_km":
            return parse_distance(value)
        return _text(value, field, TITLE_MAX if field == "title" else DESCRIPTION_MAX)

    return read


def read_fields(data: Mapping[str, Any], *, lenient: bool = False) -> dict[str, Any]:
    """Typed column values for the fields present in a body; raise Invalid naming each.

    With ``lenient`` (forms), numbers may come as strings and empty strings mean none.
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field, column in FIELD_COLUMNS.items():
        if field not in data:
            continue
        try:
            values[column] = _reader(field, lenient)(data[field])
        except Invalid as error:
            errors.update(error.errors)
    if errors:
        raise Invalid(errors)
    if values.get("membership_id", 0) is None:
        del values["membership_id"]  # no volunteer named: oneself, or unchanged
    return values


def _date_errors(
    association: Association, values: Mapping[str, Any], today: date
) -> dict[str, str]:
    errors: dict[str, str] = {}
    day, end = values["date"], values.get("end_date")
    earliest = max(association.earliest_date or FIRST_DATE, FIRST_DATE)
    if day > today:
        errors["date"] = _("The date must not be in the future.")
    elif day < earliest:
        errors["date"] = _("The date must not be before {day}.").format(day=earliest.isoformat())
    if end is not None and end < day:
        errors["end_date"] = _("The end date must not be before the date.")
    elif end is not None and end > today:
        errors["end_date"] = _("The end date must not be in the future.")
    return errors


def _duration_errors(
    association: Association, values: Mapping[str, Any], changed: set[str]
) -> dict[str, str]:
    errors: dict[str, str] = {}
    limit = association.max_minutes_per_action
    minutes, travel = values["minutes"], values.get("travel_minutes")
    distance = values.get("distance_hundredths")
    if minutes > limit:
        errors["minutes"] = _("Enter at most {count} minutes.").format(count=limit)
    elif minutes == 0 and not distance:
        errors["minutes"] = _("Enter a duration, or a distance travelled.")
    if travel is not None and travel > limit:
        errors["travel_minutes"] = _("Enter at most {count} minutes.").format(count=limit)
    if "travel_minutes" in changed and travel and association.travel_time_policy == "none":
        errors["travel_minutes"] = _("This association does not record travel time.")
    if "distance_hundredths" in changed and distance is not None and not association.uses_distance:
        errors["distance_km"] = _("This association does not record distances.")
    return errors


# The few columns the checks read, by entry kind: one small statement, no entity loaded.
_ENTRY_CHECKS: dict[Any, Any] = {
    model: select(model.association_id, model.archived, *extra).where(
        model.id == bindparam("entry_id")
    )
    for model, extra in (
        (Category, ()),
        (Project, (Project.starts_on, Project.ends_on)),
        (Level, ()),
    )
}


@dataclass(frozen=True)
class Entry:
    """What the checks read of a category, project or level (None everywhere: no such row)."""

    association_id: int | None
    archived: bool | None
    starts_on: date | None = None
    ends_on: date | None = None


def _entry_error(
    session: Session,
    model: Any,
    entry_id: int | None,
    association: Association,
    *,
    changed: bool,
    known: Entry | None = None,
) -> tuple[Any, str | None]:
    if entry_id is None:
        return None, None
    if known is not None:
        entry: Any = known
    else:
        entry = session.exec(_ENTRY_CHECKS[model], params={"entry_id": entry_id}).first()
    if entry is None or entry.association_id != association.id:
        return None, _("Choose an entry of this association.")
    if changed and entry.archived:
        return entry, _("This entry is archived; choose another one.")
    return entry, None


def check_fields(
    session: Session,
    *,
    association: Association,
    values: Mapping[str, Any],
    changed: set[str],
    today: date,
    entries: Mapping[Any, Entry] | None = None,
) -> None:
    """Apply the association's rules to an action's full values; raise Invalid.

    `entries`: the category, project and level as already read (by model), when the
    caller read them in its own statement; otherwise each is read here.
    """
    errors = _date_errors(association, values, today)
    errors.update(_duration_errors(association, values, changed))
    if values.get("category_id") is None:
        errors["category_id"] = _("Choose a category.")
    checks = (("category_id", Category), ("project_id", Project), ("level_id", Level))
    for column, model in checks:
        needed = column in changed or (column == "project_id" and "date" in changed)
        if not needed:
            continue
        entry, message = _entry_error(
            session,
            model,
            values.get(column),
            association,
            changed=column in changed,
            known=entries.get(model) if entries is not None else None,
        )
        if message:
            errors[column] = message
        elif model is Project and entry is not None and ({"date", "project_id"} & changed):
            errors.update(_project_errors(entry, values["date"]))
    if errors:
        raise Invalid(errors)


def _project_errors(project: Any, day: date) -> dict[str, str]:
    if project.starts_on and day < project.starts_on:
        return {"project_id": _("This project had not started on that date.")}
    if project.ends_on and day > project.ends_on:
        return {"project_id": _("This project had ended on that date.")}
    return {}


def check_reason(reason: Any) -> str:
    """A refusal reason: some text, at most 1000 characters; raise Invalid."""
    if not isinstance(reason, str) or not reason.strip() or "\x00" in reason:
        raise Invalid({"reason": _("Say why the action is refused.")})
    if len(reason.strip()) > REASON_MAX:
        raise Invalid({"reason": _("Use at most 1000 characters.")})
    return reason.strip()


def check_can_record(association: Association, caller: Caller) -> None:
    """Raise Forbidden unless the caller may record actions in the association."""
    if association.is_suspended or association.is_archived:
        raise Forbidden(_("This association does not record actions any more."))
    if not is_active_member(caller.membership) and not caller.may_edit_all:
        raise Forbidden(_("Only active members may record actions."))


def check_can_change(association: Association, caller: Caller, action: Action) -> None:
    """Raise Forbidden unless the caller may edit or delete this action."""
    if caller.may_edit_all:
        return
    if not caller.owns(action) or not is_active_member(caller.membership):
        raise Forbidden(_("You may not change this action."))
    if association.requires_validation and action.status == "validated":
        raise Forbidden(_("This action is validated; ask a manager to correct it."))


def can_view(caller: Caller, action: Action) -> bool:
    """True when the caller may see this action."""
    return caller.owns(action) or caller.may_view_all


def caller_in(
    session: Session,
    association: Association,
    user: User | None,
    membership: Membership | None = None,
) -> Caller:
    """The caller in an association: a person (their membership is looked up) or an access link."""
    if membership is None:
        membership = membership_of(session, association, user)
    elif membership.association_id != association.id:
        membership = None
    return Caller(user=user, membership=membership)


def snapshot(action: Action) -> dict[str, Any]:
    """The audited fields of an action, as JSON values with their input names."""
    found: dict[str, Any] = {}
    for column in AUDITED:
        value = getattr(action, column)
        if column == "distance_hundredths":
            value = distance_text(value)
        elif isinstance(value, date):
            value = value.isoformat()
        found[INPUT_FIELDS.get(column, column)] = value
    return found


@dataclass(frozen=True)
class ActionFilters:
    """What a list of actions is narrowed to (None: no condition)."""

    volunteer_id: int | None = None
    start: date | None = None
    end: date | None = None
    category_id: int | None = None
    project_id: int | None = None
    level_id: int | None = None
    status: str | None = None


FILTER_PARAMETERS = {
    "volunteer": "volunteer_id",
    "category": "category_id",
    "project": "project_id",
    "level": "level_id",
}


def read_filters(params: Mapping[str, str]) -> ActionFilters:
    """Filters from query parameters (volunteer, from, to, category, project, level, status)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, field in FILTER_PARAMETERS.items():
        raw = params.get(name, "").strip()
        if raw and (not raw.isdigit() or int(raw) > MAX_ID):
            errors[name] = _("Enter a number.")
        elif raw:
            values[field] = int(raw)
    for name, field in (("from", "start"), ("to", "end")):
        if params.get(name):
            try:
                values[field] = parse_date(params[name], field=name)
            except Invalid as error:
                errors.update(error.errors)
    status = params.get("status", "").strip()
    if status and status not in ACTION_STATUSES:
        errors["status"] = _("Choose validated, pending or refused.")
    elif status:
        values["status"] = status
    if errors:
        raise Invalid(errors)
    return ActionFilters(**values)


def cursor_text(action: Action) -> str:
    raw = f"{action.date.isoformat()}_{action.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_cursor(cursor: str) -> tuple[date, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        day, _sep, number = raw.partition("_")
        found = date.fromisoformat(day), int(number)
        if not is_id(found[1]):
            raise ValueError(number)
        return found
    except (ValueError, UnicodeDecodeError):
        raise Invalid({"cursor": _("This page marker is not valid.")}) from None
