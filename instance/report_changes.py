"""Noting which network reports must be rebuilt, in the transaction of the change.

An association that belongs to a network (an active ``NetworkLink``) states
each month's figures to it. Whenever a month changes, it is noted in
``ReportChange``; the publisher rebuilds and sends the reports after the
commit, at most one correction a day per report. Associations outside any
network cost one indexed lookup and nothing is written.
"""

from collections.abc import Iterable

from sqlmodel import Session, select

from schema.tables import NetworkLink, ReceivedReport, ReportChange, Rollup


def in_a_network(session: Session, association_id: int) -> bool:
    """True when the association has at least one active membership of a network."""
    query = select(NetworkLink.id).where(
        NetworkLink.association_id == association_id, NetworkLink.status == "active"
    )
    return session.exec(query.limit(1)).first() is not None


def mark(session: Session, *, association_id: int, months: Iterable[str]) -> int:
    """Note these months of the association (when it is in a network); return how many."""
    wanted = sorted(set(months))
    if not wanted or not in_a_network(session, association_id):
        return 0
    for month in wanted:
        session.add(ReportChange(association_id=association_id, month=month))
    return len(wanted)


def mark_all(session: Session, *, association_id: int) -> int:
    """Note every month with activity (a membership was just accepted, a mapping changed)."""
    query = select(Rollup.month).where(
        Rollup.association_id == association_id, Rollup.dimension == "total"
    )
    # A network states its members' sums: the months of the reports it received.
    received = select(ReceivedReport.month).where(ReceivedReport.network_id == association_id)
    months = set(session.exec(query)) | set(session.exec(received.distinct()))
    return mark(session, association_id=association_id, months=months)
