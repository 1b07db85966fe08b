"""Dates in the instance time zone: today, months and the date ranges people pick."""

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from instance.errors import Invalid
from instance.i18n import N_, _

#: The earliest date an action may have, whatever the association says.
FIRST_DATE = date(2000, 1, 1)
PRESETS = ("this_month", "this_year", "last_year", "all_time", "custom")
PRESET_LABELS = {
    "this_month": N_("This month"),
    "this_year": N_("This year"),
    "last_year": N_("Last year"),
    "all_time": N_("Since the beginning"),
    "custom": N_("Other dates"),
}


@dataclass(frozen=True)
class Period:
    """An inclusive range of days."""

    start: date
    end: date

    @property
    def month_aligned(self) -> bool:
        """True when the range starts on a month's first day and ends on a month's last."""
        return self.start.day == 1 and self.end == month_end(self.end)

    def months(self) -> list[str]:
        """Every month ('YYYY-MM') the range touches, in order."""
        return list(iter_months(self.start, self.end))


def today(zone: tzinfo) -> date:
    """Today's date in the instance time zone."""
    return datetime.now(zone).date()


def month_key(day: date) -> str:
    """The month of a day, as 'YYYY-MM'."""
    return f"{day.year:04d}-{day.month:02d}"


def month_start(day: date) -> date:
    """The first day of the day's month."""
    return day.replace(day=1)


def month_end(day: date) -> date:
    """The last day of the day's month."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def parse_month(key: str) -> date:
    """The first day of a 'YYYY-MM' month."""
    return date(int(key[:4]), int(key[5:7]), 1)


def iter_months(start: date, end: date) -> Iterator[str]:
    """The months from start's to end's, inclusive, as 'YYYY-MM'."""
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        yield f"{year:04d}-{month:02d}"
        month += 1
        if month > 12:
            year, month = year + 1, 1


def parse_date(value: object, *, field: str) -> date:
    """A 'YYYY-MM-DD' date; raise Invalid naming the field."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or len(value.strip()) != 10:
        raise Invalid({field: _("Enter a date like 2024-03-31.")})
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid({field: _("Enter a date like 2024-03-31.")}) from None


def preset_period(preset: str, *, today: date) -> Period:
    """The range of a named preset (this_month, this_year, last_year, all_time)."""
    if preset == "this_month":
        return Period(month_start(today), month_end(today))
    if preset == "this_year":
        return Period(date(today.year, 1, 1), date(today.year, 12, 31))
    if preset == "last_year":
        return Period(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))
    if preset == "all_time":
        return Period(FIRST_DATE, month_end(today))
    raise Invalid({"preset": _("Choose this month, this year, last year or other dates.")})


def resolve_period(
    *,
    today: date,
    preset: str | None = None,
    start: object = None,
    end: object = None,
    default: str = "this_year",
) -> Period:
    """The range asked for: a preset, or from/to dates (inclusive); raise Invalid."""
    if preset and preset != "custom":
        return preset_period(preset, today=today)
    if not start and not end:
        if preset == "custom":
            raise Invalid({"from": _("Enter the first day.")})
        return preset_period(default, today=today)
    errors: dict[str, str] = {}
    first = last = None
    try:
        first = parse_date(start, field="from") if start else FIRST_DATE
    except Invalid as error:
        errors.update(error.errors)
    try:
        last = parse_date(end, field="to") if end else today
    except Invalid as error:
        errors.update(error.errors)
    if errors:
        raise Invalid(errors)
    assert first is not None and last is not None
    if last < first:
        raise Invalid({"to": _("The last day must not be before the first day.")})
    return Period(max(first, FIRST_DATE), last)
