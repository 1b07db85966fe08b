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
import time
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
CLAIM_LIMIT = 200
LEASE_MARGIN = timedelta(seconds=60)  # claiming, signing and recording around the attempts
POOL_KEEPALIVE_SECONDS = 30.0


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
    """How long a claimed delivery stays ours: two signed attempts plus a margin."""
    return 2 * attempt_time(config) + LEASE_MARGIN


def attempt_time(config: Any) -> timedelta:
    """The longest one attempt may take (safe_http cuts every exchange off by then)."""
    timeout = float(config.federation.request_timeout)
    return timedelta(seconds=timeout * safe_http.TOTAL_TIMEOUT_FACTOR)


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


# -- sending --------------------------------------------------------------------


def _claim_jobs(db: Database, config: Any, now: datetime, limit: int, worker_id: str) -> list[Job]:
    with db.write() as session:
        rows = claim_due(session, now=now, limit=limit, worker_id=worker_id, config=config)
        hosts = peers.known(session, {row.host for row in rows})
        jobs = []
        for row in rows:
            activity = session.get(OutboxActivity, row.activity_pk)
            host = hosts.get(row.host)
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
                    lease_seconds=_seconds_left(row, now),
                )
            )
    return jobs


def _seconds_left(row: Delivery, now: datetime) -> float:
    return (peers.aware(row.locked_until or now) - now).total_seconds()


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


def _record(db: Database, results: list[tuple[int, Outcome]], now: datetime) -> None:
    """Record a batch of results in one transaction (one transaction each if that fails)."""
    try:
        with db.write() as session:
            record_many(session, results, now=now)
        return
    except Exception:
        if len(results) == 1:
            raise
        log.warning("recording %d results together failed; one by one", len(results))
    for result in results:
        with db.write() as session:
            record_many(session, [result], now=now)


class Results:
    """Group commit of delivery results: the results that arrive while one write runs go
    together in the next one, so a fan-out costs a few transactions, not one per inbox."""

    def __init__(self, db: Database, now: datetime) -> None:
        self.db = db
        self.now = now
        self.waiting: list[tuple[int, Outcome]] = []
        self.writer: asyncio.Task[None] | None = None
        self.errors: list[Exception] = []

    def add(self, job: Job, outcome: Outcome) -> None:
        """Queue one result for the next write."""
        self.waiting.append((job.delivery_id, outcome))
        if self.writer is None or self.writer.done():
            self.writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting, []
            try:
                await asyncio.to_thread(_record, self.db, batch, self.now)
            except Exception as error:  # these stay leased: retried once the lease ends
                log.exception("%d delivery results not recorded", len(batch))
                self.errors.append(error)

    async def flush(self) -> None:
        """Wait until every queued result is written; raise the first write error."""
        while self.writer is not None and not self.writer.done():
            await self.writer
        if self.waiting:
            await self._write()
        if self.errors:
            raise self.errors[0]


def make_client(config: Any) -> httpx.AsyncClient:
    """The worker's client: guarded, with a keep-alive pool per peer."""
    per_host = max(1, int(config.federation.per_host_concurrency))
    transport = peers.PerHostTransport(per_host=per_host, keepalive=POOL_KEEPALIVE_SECONDS)
    return safe_http.make_client(config, transport=transport)


async def run_once(
    db: Database,
    client: httpx.AsyncClient,
    config: Any,
    *,
    now: datetime,
    worker_id: str,
    limit: int = CLAIM_LIMIT,
) -> int:
    """Claim the due deliveries, send them (per-host concurrency), record the results; the count.

    A job whose lease could run out before it is sent and recorded is not sent (it
    is claimed again later): another worker may take a delivery only once its
    lease has run out, so no delivery is ever sent by two workers at once.
    """
    claimed = time.monotonic()
    jobs = await asyncio.to_thread(_claim_jobs, db, config, now, limit, worker_id)
    if not jobs:
        return 0
    signers = await asyncio.to_thread(_signers, db, config, jobs)
    per_host = max(1, int(config.federation.per_host_concurrency))
    gates = {job.host: asyncio.Semaphore(per_host) for job in jobs}
    needed = 2 * attempt_time(config).total_seconds()
    results = Results(db, now)

    async def deliver(job: Job) -> None:
        async with gates[job.host]:
            if time.monotonic() + needed > claimed + job.lease_seconds:
                log.warning("delivery %s not sent: its lease is running out", job.delivery_id)
                return
            outcome = await send(client, job, signers.get((job.actor_kind, job.actor_id)), now=now)
        results.add(job, outcome)

    try:
        await asyncio.gather(*(deliver(job) for job in jobs))
    finally:
        await results.flush()
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
