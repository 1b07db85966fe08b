"""Sending the outbox: claimed jobs signed and POSTed, per host, results batched.

The rules live in ``delivery_policy`` (states, backoff) and the queue in
``delivery_queue`` (claiming with leases, recording outcomes); this module runs
one round: claim, sign, send with bounded concurrency per host, record.
"""

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from federation import actor_keys, peers, safe_http
from federation.delivery_policy import attempt_time
from federation.delivery_queue import Job, Outcome, claim_due, record_many
from schema.db import Database
from schema.tables import Delivery, OutboxActivity

log = logging.getLogger("benefed.delivery")

CLAIM_LIMIT = 200
POOL_KEEPALIVE_SECONDS = 30.0


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
