"""What we know of other servers: failures, the dead state and its probes, the scheme they take.

A host is marked dead when its consecutive failures (no answer, timeouts, 5xx)
number at least ``DEAD_AFTER_FAILURES`` and span at least ``DEAD_AFTER``. While
dead, one delivery per ``PROBE_INTERVAL`` goes through (the probe); the others
wait. Any answer below 500 brings the host back.
"""

import logging
from datetime import UTC, datetime, timedelta

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


def host_answered(session: Session, host: str, *, now: datetime) -> None:
    """The host answered (below 500): it is alive; clear failures and the dead state."""
    row = peer(session, host, lock=True)
    if row.dead_since is not None:
        log.info("host %s answers again", host)
    row.consecutive_failures = 0
    row.first_failure_at = None
    row.dead_since = None
    row.last_success_at = now
    session.add(row)


def host_failed(session: Session, host: str, *, now: datetime) -> None:
    """Count a failure of the host; mark it dead past the threshold."""
    row = peer(session, host, lock=True)
    if row.consecutive_failures == 0 or row.first_failure_at is None:
        row.first_failure_at = now
    row.consecutive_failures += 1
    if (
        row.dead_since is None
        and row.consecutive_failures >= DEAD_AFTER_FAILURES
        and now - aware(row.first_failure_at) >= DEAD_AFTER
    ):
        row.dead_since = now
        log.warning("host %s marked dead after %d failures", host, row.consecutive_failures)
    session.add(row)


def remember_scheme(session: Session, host: str, scheme: str, *, now: datetime) -> None:
    """Store the signature scheme a host accepted."""
    row = peer(session, host, lock=True)
    row.signature_scheme = scheme
    row.scheme_checked_at = now
    session.add(row)


def may_send(session: Session, host: str, *, now: datetime, probed: set[str]) -> bool:
    """False when the host is dead and this is not its hourly probe (recorded when it is)."""
    row = session.get(PeerHost, host)
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
