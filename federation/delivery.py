"""Delivering the outbox: declared states, one backoff table, dead hosts, leases.

A Delivery moves through declared states only (``TRANSITIONS``)::

    pending -> sent | retrying | failed | expired
    retrying -> sent | retrying | failed | expired
    failed, expired -> pending        (the instance admin's "retry")

Sent: a 2xx. Failed (permanent): 501 and any 4xx except 401, 408 and 429. Any
other answer, a timeout or a network error is retried after ``BACKOFF[n]`` (with
+/-10 % jitter; a 429's Retry-After is respected when longer) until ``EXPIRES_AFTER``
(72 h) since the delivery was queued; then it is expired and shown to the admin.

Dead hosts: a host whose consecutive failures (network errors, timeouts, 5xx)
number at least ``DEAD_AFTER_FAILURES`` (8) and span at least ``DEAD_AFTER``
(24 h) is marked dead (PeerHost.dead_since). Its deliveries are postponed, not
failed, except one probe per ``PROBE_INTERVAL`` (1 h); any answer below 500
clears the dead state. Expiry still applies to postponed deliveries.

Workers claim due rows with a lease (locked_until, locked_by): on PostgreSQL with
``SELECT ... FOR UPDATE SKIP LOCKED`` so many workers share the queue; on SQLite
inside the write transaction. Deliveries of the same object to the same inbox go
out in the order they were queued. The clock is always passed in (``now``).
"""

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from sqlalchemy import exists, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from federation import actor_keys, blocks, peers, safe_http
from schema.db import Database, is_sqlite
from schema.tables import Delivery, OutboxActivity, PeerHost

log = logging.getLogger("benefed.delivery")

OPEN_STATES = ("pending", "retrying")
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"sent", "retrying", "failed", "expired"}),
    "retrying": frozenset({"sent", "retrying", "failed", "expired"}),
    "failed": frozenset({"pending"}),
    "expired": frozenset({"pending"}),
    "sent": frozenset(),
}
BACKOFF: tuple[timedelta, ...] = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
)
JITTER = 0.1
EXPIRES_AFTER = timedelta(hours=72)
MAX_RETRY_AFTER = timedelta(hours=24)
RETRYABLE_4XX = frozenset({401, 408, 429})
ERROR_MAX = 2000


class InvalidTransition(Exception):
    """A delivery was asked to move between states that are not declared."""


def transition(delivery: Delivery, state: str, *, now: datetime) -> None:
    """Move a delivery to a new state, if that move is declared."""
    if state not in TRANSITIONS.get(delivery.state, frozenset()):
        raise InvalidTransition(f"delivery {delivery.id}: {delivery.state} -> {state}")
    delivery.state = state
    delivery.locked_until = None  # locked_by stays: the worker that handled it last
    if state in {"sent", "failed", "expired"}:
        delivery.finished_at = now
    elif state == "pending":
        delivery.finished_at = None


def backoff(attempts: int, *, rng: Callable[[], float] = random.random) -> timedelta:
    """The wait after the n-th failed attempt (n >= 1), with +/-10 % jitter."""
    base = BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]
    return base * (1 + JITTER * (2 * rng() - 1))


def classify(status: int | None) -> str:
    """ "sent", "failed" (permanent) or "retry" for a status (None: no answer)."""
    if status is None:
        return "retry"
    if 200 <= status < 300:
        return "sent"
    if status == 501 or (400 <= status < 500 and status not in RETRYABLE_4XX):
        return "failed"
    return "retry"


def retry_after(value: str | None, *, now: datetime) -> timedelta | None:
    """A Retry-After header (seconds or an HTTP date) as a wait, capped at 24 h."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        wait = timedelta(seconds=int(value[:9]))
    else:
        try:
            wait = parsedate_to_datetime(value) - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return max(timedelta(0), min(wait, MAX_RETRY_AFTER))


def lease(config: Any) -> timedelta:
    """How long a claimed delivery stays ours (two signed attempts plus a margin)."""
    return timedelta(seconds=max(60.0, 3 * float(config.federation.request_timeout)))


# -- claiming -----------------------------------------------------------------


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


def _due_query(now: datetime, limit: int):  # type: ignore[no-untyped-def]
    older = aliased(Delivery)
    older_activity = aliased(OutboxActivity)
    activity = aliased(OutboxActivity)
    queued_before = exists().where(
        older.inbox_url == Delivery.inbox_url,
        col(older.id) < col(Delivery.id),
        col(older.state).in_(OPEN_STATES),
        older.activity_pk == older_activity.id,
        older_activity.object_id == activity.object_id,
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

    Returns only the deliveries to send now (at most one probe per dead host).
    """
    query = _due_query(now, limit)
    if not is_sqlite(session.get_bind()):
        query = query.with_for_update(skip_locked=True, of=Delivery)
    rows = list(session.exec(query))
    held = now + (lease(config) if config is not None else timedelta(minutes=2))
    chosen: list[Delivery] = []
    probed: set[str] = set()
    domains = blocks.blocked_domains(session)
    for row in rows:
        if now - peers.aware(row.created_at) > EXPIRES_AFTER:
            transition(row, "expired", now=now)
            row.last_error = row.last_error or "expired before delivery"
        elif blocks.host_in(domains, row.host):
            transition(row, "failed", now=now)
            row.last_error = "blocked"
        elif not peers.may_send(session, row.host, now=now, probed=probed):
            row.next_attempt_at = peers.next_probe(session, row.host, now=now)
        else:
            row.locked_until = held
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
    row = session.get(Delivery, delivery_id, with_for_update=True)
    if row is None or row.state not in OPEN_STATES:
        raise InvalidTransition(f"delivery {delivery_id} is not open")
    row.attempts += 1
    row.last_status = outcome.status
    row.last_error = outcome.error[:ERROR_MAX]
    verdict = classify(outcome.status)
    if outcome.status is not None and outcome.status < 500:
        peers.host_answered(session, row.host, now=now)
    else:
        peers.host_failed(session, row.host, now=now)
    if outcome.scheme and verdict == "sent":
        peers.remember_scheme(session, row.host, outcome.scheme, now=now)
    if verdict in {"sent", "failed"}:
        transition(row, verdict, now=now)
    else:
        _schedule_retry(row, outcome, now=now)
    session.add(row)
    session.flush()
    return row


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


# -- sending --------------------------------------------------------------------


def _claim_jobs(db: Database, config: Any, now: datetime, limit: int, worker_id: str) -> list[Job]:
    with db.write() as session:
        rows = claim_due(session, now=now, limit=limit, worker_id=worker_id, config=config)
        jobs = []
        for row in rows:
            activity = session.get(OutboxActivity, row.activity_pk)
            host = session.get(PeerHost, row.host)
            assert activity is not None and row.id is not None
            jobs.append(
                Job(
                    delivery_id=row.id,
                    inbox_url=row.inbox_url,
                    host=row.host,
                    body=activity.body.encode("utf-8"),
                    actor_kind=activity.actor_kind,
                    actor_id=activity.actor_id,
                    scheme=host.signature_scheme if host is not None else "",
                )
            )
    return jobs


Signer = tuple[str, RSAPrivateKey]


def _signers(db: Database, config: Any, jobs: list[Job]) -> dict[tuple[str, int | None], Signer]:
    found: dict[tuple[str, int | None], Signer] = {}
    with db.write() as session:
        for job in jobs:
            owner = (job.actor_kind, job.actor_id)
            if owner in found:
                continue
            try:
                found[owner] = actor_keys.signing_key(
                    session, config=config, kind=job.actor_kind, owner_id=job.actor_id
                )
            except (actor_keys.UnknownActor, LookupError, TypeError) as error:
                log.warning("no key for %s %s: %s", job.actor_kind, job.actor_id, error)
    return found


async def send(
    client: httpx.AsyncClient, job: Job, signer: Signer | None, *, now: datetime
) -> Outcome:
    """POST one delivery, signed; network trouble becomes an Outcome without status."""
    if signer is None:
        return Outcome(status=400, error="the sending actor no longer exists")
    key_id, private_key = signer
    try:
        response, scheme = await safe_http.signed_post(
            client,
            job.inbox_url,
            job.body,
            key_id=key_id,
            private_key=private_key,
            scheme=job.scheme or None,
            now=now,
        )
    except safe_http.BlockedAddress as error:
        return Outcome(status=400, error=f"refused address: {error}")
    except (httpx.HTTPError, OSError, ValueError) as error:
        return Outcome(status=None, error=f"{type(error).__name__}: {error}")
    error = "" if response.is_success else response.text[:300]
    return Outcome(
        status=response.status_code,
        error=error,
        retry_after=response.headers.get("retry-after"),
        scheme=scheme,
    )


def _record(db: Database, job: Job, outcome: Outcome, now: datetime) -> None:
    try:
        with db.write() as session:
            record(session, delivery_id=job.delivery_id, outcome=outcome, now=now)
    except InvalidTransition as error:  # our lease ran out and another worker settled it
        log.warning("delivery result not recorded: %s", error)


async def run_once(
    db: Database,
    client: httpx.AsyncClient,
    config: Any,
    *,
    now: datetime,
    worker_id: str,
    limit: int = 200,
) -> int:
    """Claim the due deliveries, send them (per-host concurrency), record each; return the count."""
    jobs = await asyncio.to_thread(_claim_jobs, db, config, now, limit, worker_id)
    if not jobs:
        return 0
    signers = await asyncio.to_thread(_signers, db, config, jobs)
    per_host = max(1, int(config.federation.per_host_concurrency))
    gates = {job.host: asyncio.Semaphore(per_host) for job in jobs}

    async def deliver(job: Job) -> None:
        async with gates[job.host]:
            outcome = await send(client, job, signers.get((job.actor_kind, job.actor_id)), now=now)
        await asyncio.to_thread(_record, db, job, outcome, now)

    await asyncio.gather(*(deliver(job) for job in jobs))
    return len(jobs)


# -- what the admin sees --------------------------------------------------------


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
