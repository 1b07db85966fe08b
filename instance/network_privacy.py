"""What of an association's month a network may see: small-count protection of the breakdown.

An association's totals (minutes, actions, valued amount) are exact: they
describe the association. People are protected in the breakdown by category:

1. A month with fewer distinct volunteers than the network's threshold is
   reported as totals only: no breakdown, no volunteer count.
2. Otherwise every category with fewer distinct volunteers than the threshold
   is merged into "other" (where minutes of no particular category, key
   ``OTHER``, already are). "Other" must not stand for a single small category
   (it would be that category's exact figure, by subtraction from the total),
   nor for fewer volunteers than the threshold: while it does, the smallest
   category still shown joins it (complementary suppression). In the worst case
   everything joins "other", which then equals the total.

Nothing is rounded, so network sums stay exact. Counts of distinct volunteers
need the people behind each category, so the input holds sets of member ids;
only counts leave this module.
"""

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

OTHER = "other"
DEFAULT_THRESHOLD = 5


@dataclass(frozen=True)
class Cell:
    """One category of one month: its minutes and the members who gave them."""

    key: Hashable
    minutes: int
    volunteers: frozenset[Hashable]


@dataclass(frozen=True)
class Breakdown:
    """What is published: shown categories, "other", and the volunteer count if allowed."""

    shown: dict[Hashable, int]
    other_minutes: int
    merged: frozenset[Hashable]  # the categories counted in "other"
    volunteers: int | None  # None: fewer than the threshold, not published
    total_minutes: int

    @property
    def has_breakdown(self) -> bool:
        """False when the month is reported as totals only."""
        return self.volunteers is not None


def _people(cells: Iterable[Cell]) -> frozenset[Hashable]:
    return frozenset().union(*(cell.volunteers for cell in cells))


def _needs_more(merged: list[Cell], threshold: int) -> bool:
    """True while "other" would reveal a small category or a small group of people."""
    if not merged:
        return False
    small = [cell for cell in merged if len(cell.volunteers) < threshold]
    if not small:
        return False
    return len(merged) == 1 or len(_people(merged)) < threshold


def protect(cells: Iterable[Cell], threshold: int = DEFAULT_THRESHOLD) -> Breakdown:
    """The publishable breakdown of one association's month."""
    if threshold < 1:
        raise ValueError("the threshold is at least 1")
    present = [cell for cell in cells if cell.minutes or cell.volunteers]
    total = sum(cell.minutes for cell in present)
    everyone = _people(present)
    if len(everyone) < threshold:
        return Breakdown({}, total, frozenset(c.key for c in present), None, total)

    def hidden(cell: Cell) -> bool:
        return len(cell.volunteers) < threshold or cell.key == OTHER

    merged = [cell for cell in present if hidden(cell)]
    # Smallest first (by minutes, then people, then key) so the least is hidden.
    shown = sorted(
        (cell for cell in present if not hidden(cell)),
        key=lambda cell: (cell.minutes, len(cell.volunteers), str(cell.key)),
    )
    while _needs_more(merged, threshold) and shown:
        merged.append(shown.pop(0))
    return Breakdown(
        shown={cell.key: cell.minutes for cell in shown},
        other_minutes=sum(cell.minutes for cell in merged),
        merged=frozenset(cell.key for cell in merged),
        volunteers=len(everyone),
        total_minutes=total,
    )
