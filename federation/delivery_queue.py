"""The delivery queue: claiming due rows with leases, recording attempts, dead hosts.

Dead hosts: a host whose consecutive failures (network errors, timeouts, 5xx)
number at least ``DEAD_AFTER_FAILURES`` (8) and span at least ``DEAD_AFTER``
(24 h) is marked dead (PeerHost.dead_since). Its deliveries are postponed, not
failed, except one probe per ``PROBE_INTERVAL`` (1 h); any answer below 500
clears the dead state. Expiry still applies to postponed deliveries.

Workers claim due rows with a lease (locked_until, locked_by): on PostgreSQL with
``SELECT ... FOR UPDATE SKIP LOCKED`` so many workers share the queue; on SQLite
inside the write transaction. Deliveries of the same object to the same inbox go
out in the order they were queued, and an activity about an earlier activity (an
Undo of a Follow not yet delivered) waits for it. The clock is always passed in (``now``).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from federation import blocks, peers
from federation.delivery_policy import (
    ERROR_MAX,
    EXPIRES_AFTER,
    OPEN_STATES,
    TRANSITIONS,
    InvalidTransition,
    attempt_time,
    backoff,
    classify,
    lease,
    retry_after,
    transition,
)
from schema.db import is_sqlite
from schema.tables import Delivery, OutboxActivity, PeerHost

log = logging.getLogger("benefed.delivery")


@dataclass(frozen=True)
class Job:
    """A claimed delivery, detached from the database: what sending it needs."""

    delivery_id: int
    inbox_url: str
    host: str
    body: bytes
    actor_kind: str
    actor_id: int | None
    scheme: str
    lease_seconds: float = 60.0


def _due_query(now: datetime, limit: int):  # type: ignore[no-untyped-def]
    older = aliased(Delivery)
    older_activity = aliased(OutboxActivity)
    activity = aliased(OutboxActivity)
    queued_before = exists().where(
        older.inbox_url == Delivery.inbox_url,
        col(older.id) < col(Delivery.id),
        col(older.state).in_(OPEN_STATES),
        older.activity_pk == older_activity.id,
        or_(
            older_activity.object_id == activity.object_id,
            older_activity.activity_id == activity.object_id,
        ),
    )
    return (
        select(Delivery)
        .join(activity, col(activity.id) == col(Delivery.activity_pk))
        .where(
            col(Delivery.state).in_(OPEN_STATES),
            col(Delivery.next_attempt_at) <= now,
            or_(col(Delivery.locked_until).is_(None), col(Delivery.locked_until) < now),
            or_(activity.object_id == "", ~queued_before),
        )
        .order_by(col(Delivery.next_attempt_at), col(Delivery.id))
        .limit(limit)
    )


def claim_due(
    session: Session, *, now: datetime, limit: int, worker_id: str, config: Any = None
) -> list[Delivery]:
    """Lease the deliveries due now to this worker; expired, blocked and dead ones are settled.

    Returns only the deliveries to send now (at most one probe per dead host). The
    n-th job of a host is leased long enough to wait for the jobs before it.
    """
    query = _due_query(now, limit)
    if not is_sqlite(session.get_bind()):
        query = query.with_for_update(skip_locked=True, of=Delivery)
    rows = list(session.exec(query))
    held = lease(config) if config is not None else timedelta(minutes=2)
    per_host = max(1, int(config.federation.per_host_concurrency)) if config is not None else 1
    turn = 2 * attempt_time(config) if config is not None else timedelta(minutes=1)
    queued: dict[str, int] = {}
    chosen: list[Delivery] = []
    probed: set[str] = set()
    domains = blocks.blocked_domains(session)
    hosts = peers.known(session, {row.host for row in rows})
    with session.no_autoflush:  # one flush at the end, not one per row
        for row in rows:
            if now - peers.aware(row.created_at) >= EXPIRES_AFTER:  # as _schedule decides
                transition(row, "expired", now=now)
                row.last_error = row.last_error or "expired before delivery"
            elif blocks.host_in(domains, row.host):
                transition(row, "failed", now=now)
                row.last_error = "blocked"
            elif not peers.may_send(session, row.host, now=now, probed=probed, rows=hosts):
                row.next_attempt_at = peers.next_probe(session, row.host, now=now)
            else:
                # A job waits for its host's earlier jobs (per_host at a time, each
                # at most `turn`): its lease covers that wait, so it never runs out
                # before the job is sent and recorded.
                position = queued[row.host] = queued.get(row.host, -1) + 1
                row.locked_until = now + held + turn * (position // per_host)
                row.locked_by = worker_id[:64]
                chosen.append(row)
            session.add(row)
    session.flush()
    return chosen


def release_locks(session: Session, *, worker_id: str | None = None) -> int:
    """Drop the leases of a worker (of every worker when None): at start-up after a crash."""
    query = select(Delivery).where(col(Delivery.locked_until).is_not(None))
    if worker_id is not None:
        query = query.where(Delivery.locked_by == worker_id)
    count = 0
    for row in session.exec(query):
        row.locked_until = None
        row.locked_by = ""
        session.add(row)
        count += 1
    session.flush()
    return count


# -- recording results ----------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one attempt gave: a status (None when no answer) and what to remember."""

    status: int | None
    error: str = ""
    retry_after: str | None = None
    scheme: str = ""


def record(session: Session, *, delivery_id: int, outcome: Outcome, now: datetime) -> Delivery:
    """Apply the outcome of an attempt to a delivery and its host."""
    done = record_many(session, [(delivery_id, outcome)], now=now)
    if not done:
        raise InvalidTransition(f"delivery {delivery_id} is not open")
    return done[0]


def record_many(
    session: Session, results: list[tuple[int, Outcome]], *, now: datetime
) -> list[Delivery]:
    """Apply the outcomes of several attempts, in order; the deliveries updated.

    Rows are locked in id order and hosts in name order (no deadlock between
    workers). A delivery that is no longer open (our lease ran out and another
    worker settled it) is left alone and logged.
    """
    ids = sorted({delivery_id for delivery_id, _outcome in results})
    query = (
        select(Delivery)
        .where(col(Delivery.id).in_(ids))
        .order_by(col(Delivery.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    rows = {row.id: row for row in session.exec(query)}
    hosts = peers.lock_peers(session, [row.host for row in rows.values()])
    done: list[Delivery] = []
    for delivery_id, outcome in results:
        row = rows.get(delivery_id)
        if row is None or row.state not in OPEN_STATES:
            log.warning("delivery %s is not open: result not recorded", delivery_id)
            continue
        _apply(row, hosts[row.host], outcome, now=now)
        session.add(row)
        done.append(row)
    session.add_all(hosts.values())
    session.flush()
    return done


def _apply(row: Delivery, host: PeerHost, outcome: Outcome, *, now: datetime) -> None:
    row.attempts += 1
    row.last_status = outcome.status
    row.last_error = outcome.error[:ERROR_MAX]
    verdict = classify(outcome.status)
    if outcome.status is not None and outcome.status < 500:
        peers.mark_answered(host, now=now)
    else:
        peers.mark_failed(host, now=now)
    if outcome.scheme and verdict == "sent":
        host.signature_scheme = outcome.scheme
        host.scheme_checked_at = now
    if verdict in {"sent", "failed"}:
        transition(row, verdict, now=now)
    else:
        _schedule_retry(row, outcome, now=now)


def _schedule_retry(row: Delivery, outcome: Outcome, *, now: datetime) -> None:
    deadline = peers.aware(row.created_at) + EXPIRES_AFTER
    if now >= deadline:
        transition(row, "expired", now=now)
        return
    wait = backoff(row.attempts)
    asked = retry_after(outcome.retry_after, now=now) if outcome.status == 429 else None
    if asked is not None:
        wait = max(wait, asked)
    transition(row, "retrying", now=now)
    row.next_attempt_at = min(now + wait, deadline)


def retry_delivery(session: Session, *, delivery_id: int, now: datetime) -> Delivery:
    """The admin's retry: a failed or expired delivery is queued again, with a fresh expiry."""
    row = session.get(Delivery, delivery_id)
    if row is None:
        raise InvalidTransition(f"no delivery {delivery_id}")
    transition(row, "pending", now=now)
    row.next_attempt_at = now
    row.created_at = now
    row.attempts = 0
    session.add(row)
    session.flush()
    return row


def counts_by_state(session: Session) -> dict[str, int]:
    """How many deliveries are in each state."""
    counts = dict.fromkeys(TRANSITIONS, 0)
    query = select(Delivery.state, func.count()).group_by(Delivery.state)
    counts.update({state: total for state, total in session.exec(query)})
    return counts


def finished_badly(session: Session, *, limit: int = 50) -> list[tuple[Delivery, OutboxActivity]]:
    """The newest expired or failed deliveries, with their activity."""
    query = (
        select(Delivery, OutboxActivity)
        .join(OutboxActivity, col(OutboxActivity.id) == col(Delivery.activity_pk))
        .where(col(Delivery.state).in_(("expired", "failed")))
        .order_by(col(Delivery.finished_at).desc(), col(Delivery.id).desc())
        .limit(limit)
    )
    return [(d, a) for d, a in session.exec(query)]
