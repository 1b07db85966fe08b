"""What an HoursSummary states: one member's month in one association, from the raw actions.

Counted as the association's statistics count (instance/summaries.py): only
validated actions count, pending ones are shown apart, travel time is added when
the association counts it, each action is valued at its own rate rounded to the
cent. Minutes by category carry the association's own labels.
"""

from dataclasses import dataclass

from sqlmodel import Session, col, select

from instance.periods import month_end, parse_month
from instance.summaries import Figures, figures
from schema.tables import Action, Association, Category


@dataclass(frozen=True)
class MonthFigures:
    """What a summary states: the month's figures and minutes by category label."""

    total: Figures
    categories: list[tuple[str, int]]

    @property
    def empty(self) -> bool:
        """True when no counted nor pending action remains in the month."""
        return not (self.total.actions or self.total.pending_actions)


def _add(
    counters: dict[str, int], status: str, minutes: int, travel: int, rate: int | None
) -> None:
    def bump(name: str, value: int) -> None:
        counters[name] = counters.get(name, 0) + value

    if status == "validated":
        bump("minutes_counted", minutes)
        bump("travel_minutes_counted", travel)
        bump("actions_counted", 1)
        if rate is not None:
            bump("valued_actions", 1)
            bump("valued_cents", (minutes * rate + 30) // 60 if minutes > 0 else 0)
            bump("travel_valued_cents", (travel * rate + 30) // 60 if travel > 0 else 0)
    elif status == "pending":
        bump("minutes_pending", minutes)
        bump("travel_minutes_pending", travel)
        bump("actions_pending", 1)


def month_figures(
    session: Session, *, association: Association, membership_id: int, month: str
) -> MonthFigures:
    """The figures of one member's month, from the raw actions, as the statistics count them."""
    first = parse_month(month)
    query = select(
        Action.status, Action.category_id, Action.minutes, Action.travel_minutes, Action.rate_cents
    ).where(
        Action.membership_id == membership_id,
        Action.association_id == association.id,
        Action.date >= first,
        Action.date <= month_end(first),
    )
    total: dict[str, int] = {}
    by_category: dict[int, dict[str, int]] = {}
    for status, category_id, minutes, travel, rate in session.exec(query):
        _add(total, status, minutes, travel or 0, rate)
        _add(by_category.setdefault(category_id, {}), status, minutes, travel or 0, rate)
    policy = association.travel_time_policy
    counted = {
        key: figures(row, policy) for key, row in by_category.items() if row.get("actions_counted")
    }
    names = _category_names(session, list(counted))
    categories = sorted(
        ((names.get(key, str(key)), found.minutes) for key, found in counted.items()),
        key=lambda item: (-item[1], item[0].lower(), item[0]),
    )
    return MonthFigures(total=figures(total, policy), categories=categories)


def _category_names(session: Session, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    query = select(Category.id, Category.name).where(col(Category.id).in_(ids))
    return {category_id: name for category_id, name in session.exec(query) if category_id}
