"""Noting which hours summaries must be sent again, in the transaction of the change.

A person who linked their account here to a home instance receives one summary
per association and month. Whenever an action changes, the months it touched
are noted in ``SummaryChange``; the publisher (federation side) rebuilds and
sends those summaries after the commit, outside the request. People without an
accepted link cost one indexed lookup and nothing is written.
"""

from collections.abc import Iterable
from typing import Protocol

from sqlmodel import Session, col, select

from schema.tables import Follow, Membership, Rollup, SentSummary, SummaryChange


class _State(Protocol):
    association_id: int
    month: str
    membership_id: int


def linked_users(session: Session, membership_ids: Iterable[int]) -> dict[int, int]:
    """Membership id -> user id, for members whose account has an accepted incoming link."""
    ids = sorted(set(membership_ids))
    if not ids:
        return {}
    query = (
        select(Membership.id, Membership.user_id)
        .join(Follow, col(Follow.local_id) == col(Membership.user_id))
        .where(
            col(Membership.id).in_(ids),
            Follow.direction == "in",
            Follow.local_kind == "user",
            Follow.state == "accepted",
        )
        .distinct()
    )
    return {m_id: u_id for m_id, u_id in session.exec(query) if m_id and u_id}


def mark(session: Session, states: Iterable[_State | None]) -> int:
    """Note the (association, person, month) of each changed action state; return how many."""
    present = [state for state in states if state is not None]
    users = linked_users(session, (state.membership_id for state in present))
    keys = {
        (state.association_id, users[state.membership_id], state.month)
        for state in present
        if state.membership_id in users
    }
    for association_id, user_id, month in sorted(keys):
        session.add(SummaryChange(association_id=association_id, user_id=user_id, month=month))
    return len(keys)


def mark_all_for_user(session: Session, *, user_id: int) -> int:
    """Note every (association, month) where the person has actions (a link was just accepted)."""
    query = (
        select(Rollup.association_id, Rollup.month)
        .join(Membership, col(Membership.id) == col(Rollup.key_id))
        .where(Rollup.dimension == "volunteer", Membership.user_id == user_id)
    )
    keys = {(association_id, month) for association_id, month in session.exec(query)}
    for association_id, month in sorted(keys):
        session.add(SummaryChange(association_id=association_id, user_id=user_id, month=month))
    return len(keys)


def mark_association(session: Session, *, association_id: int) -> int:
    """Note every month of every linked member (the association or a category was renamed...)."""
    linked = (
        select(Follow.local_id)
        .where(Follow.direction == "in", Follow.local_kind == "user", Follow.state == "accepted")
        .distinct()
    )
    from_rollups = (
        select(Membership.user_id, Rollup.month)
        .join(Membership, col(Membership.id) == col(Rollup.key_id))
        .where(
            Rollup.association_id == association_id,
            Rollup.dimension == "volunteer",
            col(Membership.user_id).in_(linked),
        )
    )
    from_sent = select(SentSummary.user_id, SentSummary.month).where(
        SentSummary.association_id == association_id, col(SentSummary.user_id).in_(linked)
    )
    keys = {(u, m) for u, m in session.exec(from_rollups) if u} | set(session.exec(from_sent))
    for user_id, month in sorted(keys):
        session.add(SummaryChange(association_id=association_id, user_id=user_id, month=month))
    return len(keys)
