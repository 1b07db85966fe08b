"""Helpers shared by the table modules."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, aware, in UTC (the form stored in every table)."""
    return datetime.now(UTC)
