"""The figures of one network report, whoever computes them.

A member association computes them from its own actions; a network that is
itself a member of a wider network computes them from the reports its members
sent. Both hand the same shape to the publisher, which signs and sends it.
"""

from dataclasses import dataclass

from instance.network_privacy import OTHER

__all__ = ["OTHER", "ReportFigures"]


@dataclass(frozen=True)
class ReportFigures:
    """One month as stated to one network (already protected: safe to publish)."""

    month: str  # "YYYY-MM"
    minutes: int  # exact: describes the association, not a person
    actions: int
    volunteers: int | None  # None: fewer than the network's threshold, not stated
    categories: dict[str, int] | None  # reference key -> minutes; None: totals only
    valued_cents: int | None  # None: the association does not value time
    currency: str | None  # "EUR", or None with valued_cents

    @property
    def empty(self) -> bool:
        """True when nothing happened that month (the report states zero)."""
        return self.minutes == 0 and self.actions == 0
