"""What a member association states to a network for one month, from its own data.

Totals are the association's own, exactly as its summary shows them (counted
actions only: validated ones where the association moderates, travel time as
the association decided, each action valued at its own rate). The breakdown
follows the network's reference keys through the association's mapping (its
category id -> a reference key; unmapped categories and keys the network does
not list go to "other"), and is protected by instance.network_privacy.protect
with the network's threshold. Only counts leave: never who gave the time.
"""

from collections.abc import Iterable
from typing import Any, Protocol

from sqlmodel import Session, select

from instance import network_forwarding, network_links
from instance.network_privacy import OTHER, Cell, protect
from instance.periods import Period, month_end, parse_month
from instance.report_figures import ReportFigures
from instance.summaries import compute_summary
from schema.tables import Action, Association, NetworkLink

CURRENCY = "EUR"


class Terms(Protocol):
    """What a network publishes that a report depends on (federation.network_terms)."""

    threshold: int

    @property
    def keys(self) -> frozenset[str]:
        """The reference keys members may map onto ("other" included)."""
        ...


def _people(session: Session, association_id: int, month: str) -> dict[int, set[int]]:
    """The members with counted actions in each category that month."""
    first = parse_month(month)
    query = (
        select(Action.category_id, Action.membership_id)
        .where(
            Action.association_id == association_id,
            Action.date >= first,
            Action.date <= month_end(first),
            Action.status == "validated",
        )
        .distinct()
    )
    found: dict[int, set[int]] = {}
    for category_id, membership_id in session.exec(query):
        found.setdefault(category_id, set()).add(membership_id)
    return found


def reference_cells(
    minutes: dict[int, int],
    people: dict[int, set[int]],
    mapping: dict[str, str],
    keys: Iterable[str],
) -> list[Cell]:
    """Our categories merged onto the network's reference keys ("other" for the rest)."""
    known = set(keys)
    merged: dict[str, tuple[int, set[Any]]] = {}
    for category_id in set(minutes) | set(people):
        key = mapping.get(str(category_id), OTHER)
        key = key if key in known else OTHER
        total, who = merged.setdefault(key, (0, set()))
        merged[key] = (total + minutes.get(category_id, 0), who | people.get(category_id, set()))
    return [Cell(key, total, frozenset(who)) for key, (total, who) in sorted(merged.items())]


def association_figures(
    session: Session,
    *,
    association: Association,
    month: str,
    mapping: dict[str, str],
    threshold: int,
    keys: frozenset[str],
) -> ReportFigures:
    """One month of the association as stated to a network: exact totals, protected breakdown."""
    assert association.id is not None
    first = parse_month(month)
    summary = compute_summary(
        session,
        association=association,
        period=Period(first, month_end(first)),
        group_by="category",
    )
    minutes = {
        int(group.key): group.figures.minutes
        for group in summary.groups
        if isinstance(group.key, int)
    }
    cells = reference_cells(minutes, _people(session, association.id, month), mapping, keys)
    breakdown = protect(cells, threshold)
    categories: dict[str, int] | None = None
    if breakdown.has_breakdown:
        categories = {str(key): value for key, value in breakdown.shown.items()}
        if breakdown.other_minutes:
            categories[OTHER] = breakdown.other_minutes
    total = summary.total
    return ReportFigures(
        month=month,
        minutes=total.minutes,
        actions=total.actions,
        volunteers=breakdown.volunteers,
        categories=categories,
        valued_cents=total.valued_cents,
        currency=CURRENCY if total.valued_cents is not None else None,
    )


def figures_for(
    session: Session, *, link: NetworkLink, month: str, terms: Terms
) -> ReportFigures | None:
    """The figures of one link's report for a month (None: the association is gone)."""
    association = session.get(Association, link.association_id)
    if association is None:
        return None
    options: dict[str, Any] = {
        "month": month,
        "mapping": network_links.mapping_of(link),
        "threshold": terms.threshold,
        "keys": terms.keys,
    }
    if association.is_network:
        found: ReportFigures = network_forwarding.network_figures(
            session, network=association, **options
        )
        return found
    return association_figures(session, association=association, **options)
