"""What we know of other servers: failures, the dead state and its probes, the scheme they
take; and a keep-alive connection pool per server (``PerHostTransport``).

A host is marked dead when its consecutive failures (no answer, timeouts, 5xx)
number at least ``DEAD_AFTER_FAILURES`` and span at least ``DEAD_AFTER``. While
dead, one delivery per ``PROBE_INTERVAL`` goes through (the probe); the others
wait. Any answer below 500 brings the host back.
"""

import logging
import ssl
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from schema.db import is_sqlite
from schema.tables import PeerHost

log = logging.getLogger("benefed.delivery")

DEAD_AFTER_FAILURES = 8
DEAD_AFTER = timedelta(hours=24)
PROBE_INTERVAL = timedelta(hours=1)


def aware(moment: datetime) -> datetime:
    """A stored time as an aware UTC datetime."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def peer(session: Session, host: str, *, lock: bool = False) -> PeerHost:
    """The PeerHost row of a host (created when missing; locked for update when asked)."""
    found = session.get(PeerHost, host, with_for_update=True if lock else None)
    if found is None:
        insert = sqlite_insert if is_sqlite(session.get_bind()) else pg_insert
        values = PeerHost(host=host).model_dump()
        session.execute(insert(PeerHost).values(**values).on_conflict_do_nothing())
        found = session.get(PeerHost, host, with_for_update=True if lock else None)
    assert found is not None
    return found


def lock_peers(session: Session, hosts: list[str]) -> dict[str, PeerHost]:
    """The PeerHost rows of several hosts (created when missing), locked in name order."""
    names = sorted(set(hosts))
    if not names:
        return {}
    insert = sqlite_insert if is_sqlite(session.get_bind()) else pg_insert
    query = (
        select(PeerHost)
        .where(col(PeerHost.host).in_(names))
        .order_by(col(PeerHost.host))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    found = {row.host: row for row in session.exec(query)}
    missing = [PeerHost(host=name).model_dump() for name in names if name not in found]
    if missing:
        session.execute(insert(PeerHost).values(missing).on_conflict_do_nothing())
        found = {row.host: row for row in session.exec(query)}
    return found


def mark_answered(row: PeerHost, *, now: datetime) -> None:
    """The host answered (below 500): it is alive; clear failures and the dead state."""
    if row.dead_since is not None:
        log.info("host %s answers again", row.host)
        row.revived_at = now  # the worker reconciles hours summaries with it (summary_reconcile)
    row.consecutive_failures = 0
    row.first_failure_at = None
    row.dead_since = None
    row.last_success_at = now


def mark_failed(row: PeerHost, *, now: datetime) -> None:
    """Count a failure of the host; mark it dead past the threshold."""
    if row.consecutive_failures == 0 or row.first_failure_at is None:
        row.first_failure_at = now
    row.consecutive_failures += 1
    if (
        row.dead_since is None
        and row.consecutive_failures >= DEAD_AFTER_FAILURES
        and now - aware(row.first_failure_at) >= DEAD_AFTER
    ):
        row.dead_since = now
        log.warning("host %s marked dead after %d failures", row.host, row.consecutive_failures)


def host_answered(session: Session, host: str, *, now: datetime) -> None:
    """The host answered (below 500): it is alive; clear failures and the dead state."""
    row = peer(session, host, lock=True)
    mark_answered(row, now=now)
    session.add(row)


def host_failed(session: Session, host: str, *, now: datetime) -> None:
    """Count a failure of the host; mark it dead past the threshold."""
    row = peer(session, host, lock=True)
    mark_failed(row, now=now)
    session.add(row)


def remember_scheme(session: Session, host: str, scheme: str, *, now: datetime) -> None:
    """Store the signature scheme a host accepted."""
    row = peer(session, host, lock=True)
    row.signature_scheme = scheme
    row.scheme_checked_at = now
    session.add(row)


def known(session: Session, hosts: set[str]) -> dict[str, PeerHost]:
    """The PeerHost rows of these hosts that exist (one query, no lock)."""
    if not hosts:
        return {}
    query = select(PeerHost).where(col(PeerHost.host).in_(sorted(hosts)))
    return {row.host: row for row in session.exec(query)}


def may_send(
    session: Session,
    host: str,
    *,
    now: datetime,
    probed: set[str],
    rows: dict[str, PeerHost] | None = None,
) -> bool:
    """False when the host is dead and this is not its hourly probe (recorded when it is).

    ``rows``: the hosts' rows read beforehand (``known``), to spare a query per delivery.
    """
    row = rows.get(host) if rows is not None else session.get(PeerHost, host)
    if row is None or row.dead_since is None:
        return True
    if host in probed:
        return False
    row = peer(session, host, lock=True)
    if row.last_probe_at is not None and now - aware(row.last_probe_at) < PROBE_INTERVAL:
        return False
    row.last_probe_at = now
    session.add(row)
    probed.add(host)
    return True


def next_probe(session: Session, host: str, *, now: datetime) -> datetime:
    """When a dead host's next probe may go."""
    row = session.get(PeerHost, host)
    last = row.last_probe_at if row is not None else None
    if last is None:
        return now + PROBE_INTERVAL
    return max(now, aware(last) + PROBE_INTERVAL)


def dead_hosts(session: Session) -> list[PeerHost]:
    """Hosts currently marked dead."""
    query = select(PeerHost).where(col(PeerHost.dead_since).is_not(None))
    return list(session.exec(query.order_by(col(PeerHost.dead_since))))


# -- one connection pool per peer ------------------------------------------------


class _Released(httpx.AsyncByteStream):
    """A response body that tells its pool when it is closed."""

    def __init__(self, inner: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self.inner = inner
        self.release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            release, self.release = self.release, None
            if release is not None:
                release()


class PerHostTransport(httpx.AsyncBaseTransport):
    """A small keep-alive pool per peer instead of one big pool for all of them.

    httpcore looks through every connection of a pool each time a request starts
    or ends, so one pool holding a connection to each of hundreds of peers costs
    quadratic time on a fan-out, and it closes idle connections it should keep.
    Pools are keyed by scheme, address, port and TLS server name; the least
    recently used idle pools are closed beyond ``max_hosts``.
    """

    def __init__(self, *, per_host: int, keepalive: float, max_hosts: int = 512) -> None:
        self.limits = httpx.Limits(
            max_connections=per_host, max_keepalive_connections=per_host, keepalive_expiry=keepalive
        )
        self.max_hosts = max_hosts
        self.tls: ssl.SSLContext | None = None  # one for all pools: loading the CAs is slow
        self.pools: OrderedDict[tuple[Any, ...], httpx.AsyncHTTPTransport] = OrderedDict()
        self.busy: Counter[tuple[Any, ...]] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the pool of the request's peer."""
        url = request.url
        key = (url.scheme, url.host, url.port, request.extensions.get("sni_hostname"))
        pool = await self._pool(key)
        self.busy[key] += 1
        try:
            response = await pool.handle_async_request(request)
        except BaseException:
            self._release(key)
            raise
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_Released(stream, lambda: self._release(key)),
            extensions=response.extensions,
        )

    async def _pool(self, key: tuple[Any, ...]) -> httpx.AsyncHTTPTransport:
        pool = self.pools.get(key)
        if pool is not None:
            self.pools.move_to_end(key)
            return pool
        if self.tls is None:
            self.tls = httpx.create_ssl_context()
        pool = httpx.AsyncHTTPTransport(verify=self.tls, retries=0, limits=self.limits)
        self.pools[key] = pool
        idle = [k for k in self.pools if not self.busy[k] and k != key]
        for old in idle[: max(0, len(self.pools) - self.max_hosts)]:
            await self.pools.pop(old).aclose()
        return pool

    def _release(self, key: tuple[Any, ...]) -> None:
        self.busy[key] -= 1
        if self.busy[key] <= 0:
            del self.busy[key]

    async def aclose(self) -> None:
        """Close every pool."""
        pools, self.pools = list(self.pools.values()), OrderedDict()
        for pool in pools:
            await pool.aclose()
