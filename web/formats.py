"""Durations and dates as pages write them (templates use them as filters)."""

from datetime import date, datetime

from instance import i18n


def format_minutes(minutes: int | None) -> str:
    """Minutes as "3 h 05" (or "45 min")."""
    if minutes is None:
        return ""
    sign = "-" if minutes < 0 else ""
    hours, rest = divmod(abs(int(minutes)), 60)
    if hours == 0:
        return f"{sign}{rest} min"
    return f"{sign}{hours} h {rest:02d}"


def format_date(value: date | datetime | None) -> str:
    """A date the way the current language writes it."""
    if value is None:
        return ""
    if i18n.current_language.get() == "fr":
        return value.strftime("%d/%m/%Y")
    return value.strftime("%Y-%m-%d")
