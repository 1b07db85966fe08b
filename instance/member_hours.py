"""A person's counted minutes in each association where they have time, by month.

Read from the volunteer rollups of their memberships (one query), the travel
time added where the association counts it.
"""

from collections import defaultdict
from dataclasses import dataclass

from sqlmodel import Session, col, select

from schema.tables import Association, Membership, Rollup, User


@dataclass(frozen=True)
class AssociationHours:
    """A person's counted minutes in one association, by month."""

    association: Association
    minutes: int
    months: list[tuple[str, int]]


def person_hours(session: Session, *, user: User) -> list[AssociationHours]:
    """Every association where the person has counted time, with minutes by month."""
    memberships = {
        member.id: member
        for member in session.exec(select(Membership).where(Membership.user_id == user.id))
    }
    if not memberships:
        return []
    query = select(
        Rollup.association_id, Rollup.month, Rollup.minutes_counted, Rollup.travel_minutes_counted
    ).where(
        Rollup.dimension == "volunteer",
        col(Rollup.key_id).in_(list(memberships)),
        Rollup.actions_counted > 0,
    )
    months: dict[int, dict[str, int]] = defaultdict(dict)
    associations = {
        association.id: association
        for association in session.exec(
            select(Association).where(
                col(Association.id).in_({m.association_id for m in memberships.values()})
            )
        )
    }
    for association_id, month, minutes, travel in session.exec(query):
        counted = associations[association_id].travel_time_policy == "counted"
        months[association_id][month] = minutes + (travel if counted else 0)
    found = []
    for member in memberships.values():
        association = associations[member.association_id]
        rows = sorted(months.get(member.association_id, {}).items())
        if rows or member.status == "active":
            found.append(AssociationHours(association, sum(m for _month, m in rows), rows))
    return sorted(found, key=lambda item: item.association.name.lower())
