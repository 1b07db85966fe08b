"""Putting a value in euros on volunteer time: dated hourly rates, amounts, accounting.

An action is valued at the hourly rate of its level in force on its date; without
one, at the association's default rate; else it is not valued. Each action's
value is rounded to the cent (half up) once, and totals add those cents, so a
total always equals the sum of the amounts listed.
"""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import bindparam
from sqlmodel import Session, col, func, select

from instance.errors import Invalid
from instance.i18n import _
from schema.tables import Association, Level, LevelRate

MAX_RATE_CENTS = 1_000_000  # 10,000 euros an hour


@dataclass(frozen=True)
class RateUsed:
    """One rate that values actions: of a level from a date, or the default."""

    level_id: int | None
    level: str
    effective_from: date | None
    hourly_rate_cents: int


def value_cents(minutes: int, rate_cents: int | None) -> int:
    """Minutes at an hourly rate, in cents rounded half up (0 when not valued)."""
    if rate_cents is None or minutes <= 0:
        return 0
    return (minutes * rate_cents + 30) // 60


def euros(cents: int | None) -> str | None:
    """Cents as a decimal string of euros ('12.50'), None stays None."""
    if cents is None:
        return None
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}{whole}.{rest:02d}"


def parse_euros(value: object, *, field: str) -> int:
    """A non-negative amount of euros (string or number, 2 decimals at most) in cents."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Invalid({field: _("Enter an amount in euros, like 12.50.")})
    try:
        amount = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise Invalid({field: _("Enter an amount in euros, like 12.50.")}) from None
    if not amount.is_finite():
        raise Invalid({field: _("Enter an amount in euros, like 12.50.")})
    if amount < 0:
        raise Invalid({field: _("The amount must not be negative.")})
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise Invalid({field: _("Use at most 2 decimals.")})
    if cents > MAX_RATE_CENTS:
        raise Invalid({field: _("This amount is too large.")})
    return int(cents)


def hours_text(minutes: int) -> str:
    """Minutes as decimal hours with 2 decimals ('1.50' for 90)."""
    hours = (Decimal(minutes) / 60).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return str(hours)


def duration_text(minutes: int) -> str:
    """Minutes for people: '45 min', '2 h', '2 h 30'."""
    hours, rest = divmod(max(minutes, 0), 60)
    if not hours:
        return _("{minutes} min").format(minutes=rest)
    if not rest:
        return _("{hours} h").format(hours=hours)
    return _("{hours} h {minutes:02d}").format(hours=hours, minutes=rest)


_RATE_ON = (
    select(LevelRate.hourly_rate_cents)
    .where(LevelRate.level_id == bindparam("level_id"), LevelRate.effective_from <= bindparam("on"))
    .order_by(col(LevelRate.effective_from).desc())
    .limit(1)
)


def level_rate_cents(session: Session, level_id: int, on: date) -> int | None:
    """The hourly rate of a level in force on a day, or None."""
    found = session.connection().execute(_RATE_ON, {"level_id": level_id, "on": on})
    return found.scalar()


def rate_for(
    session: Session, association: Association, level_id: int | None, on: date
) -> int | None:
    """The hourly rate valuing an action: its level's in force, else the default."""
    if level_id is not None:
        found = level_rate_cents(session, level_id, on)
        if found is not None:
            return found
    return association.default_hourly_rate_cents


def rates_of(session: Session, level_ids: list[int]) -> dict[int, list[LevelRate]]:
    """Every dated rate of these levels, oldest first, by level."""
    found: dict[int, list[LevelRate]] = {level_id: [] for level_id in level_ids}
    if not level_ids:
        return found
    query = (
        select(LevelRate)
        .where(col(LevelRate.level_id).in_(level_ids))
        .order_by(col(LevelRate.effective_from))
    )
    for rate in session.exec(query):
        found[rate.level_id].append(rate)
    return found


_ASSOCIATION_RATES = (
    select(Level.id, Level.name, LevelRate.effective_from, LevelRate.hourly_rate_cents)
    .join(LevelRate, col(LevelRate.level_id) == col(Level.id))
    .where(Level.association_id == bindparam("association_id"))
    .order_by(func.lower(Level.name), col(Level.id), col(LevelRate.effective_from))
)


def rates_used(session: Session, association: Association) -> list[RateUsed]:
    """Every rate of the association, for auditors: each level's dated rates, then the default."""
    rows = session.connection().execute(_ASSOCIATION_RATES, {"association_id": association.id})
    found = [RateUsed(level_id, name, day, cents) for level_id, name, day, cents in rows]
    if association.default_hourly_rate_cents is not None:
        found.append(RateUsed(None, _("Default rate"), None, association.default_hourly_rate_cents))
    return found


def method_text(association: Association) -> str:
    """How amounts are computed, in plain words, for auditors."""
    parts = [
        _(
            "Only validated actions count. Each action is valued at the hourly rate of "
            "its qualification level in force on the day of the action."
        ),
        _(
            "An action without a level, or whose level had no rate on that day, is "
            "valued at the association's default rate; without a default rate it is "
            "not valued."
        ),
        _(
            "Each action's value is the minutes times the hourly rate divided by 60, "
            "rounded to the cent; totals add these values."
        ),
    ]
    if association.travel_time_policy == "counted":
        parts.append(_("Travel time is counted and valued like the time of the action."))
    elif association.travel_time_policy == "separate":
        parts.append(_("Travel time is shown apart and is not valued."))
    parts.append(_("A new rate only changes the value of actions on or after its date."))
    return " ".join(parts)
