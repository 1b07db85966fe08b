"""Member side of networks: the monthly signed reports, sent by the worker after the commit.

``ReportChange`` rows (written in the transaction of each action change, see
instance/report_changes.py) say which (association, month) to rebuild. Once a
burst has settled, ``publish_due`` rebuilds the report of that month for each
ACTIVE ``NetworkLink`` of the association, with the network's published terms
(threshold, reference categories: read from its cached actor, fetched again
when the cache expired), and queues, in the same transaction:

- a Create the first time (at once);
- nothing when the figures did not change (same digest);
- an Update otherwise, but at most one a day per report (``last_sent_at`` is
  the time of the last Update): a later change is kept as a ``ReportChange``
  dated when the day has passed, so the worker sleeps until then.

Every month, the previous month's report is sent for every active link even
when nothing changed (zero figures), so a network hears from each member each
month. ``delete_reports`` sends the Delete (Tombstone) of every report of a
link, when an association leaves and asks for its data to be removed.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import event, func, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import object_session
from sqlmodel import Session, col, delete, select

from federation import remote_actors, reports_build, reports_in, urls, wakeup
from federation.peers import aware
from instance import network_links
from instance.config import Config
from instance.network_report_figures import figures_for
from schema.db import Database, is_sqlite
from schema.tables import Association, NetworkLink, RemoteActor, ReportChange, SentReport
from schema.tables._base import utcnow

log = logging.getLogger("benefed.reports")

QUIET = timedelta(milliseconds=200)
MAX_WAIT = timedelta(seconds=1)
DAY = timedelta(days=1)  # corrections: at most one Update per report a day
RETRY = timedelta(minutes=10)  # the network's terms could not be read: try again later
PUBLISHER_LOCK = 0x62726570  # pg advisory lock key: one report publisher at a time


@dataclass(frozen=True)
class Pending:
    """The changes waiting for one (association, month): since when, the last, the newest id."""

    association_id: int
    month: str
    first: datetime
    last: datetime
    newest_id: int

    @property
    def due_at(self) -> datetime:
        """When the burst is considered settled (a deferred row is dated in the future)."""
        return min(self.last + QUIET, self.first + MAX_WAIT)


@dataclass(frozen=True)
class Job:
    """One month of one association to publish: to its active links, or to one link."""

    association_id: int
    month: str
    newest_id: int | None = None  # the ReportChange rows this job consumes
    link_id: int | None = None  # the monthly report of one link (sent even when unchanged)


def pending_changes(session: Session) -> list[Pending]:
    """Every (association, month) with changes waiting, oldest first."""
    query = select(
        ReportChange.association_id,
        ReportChange.month,
        func.min(ReportChange.created_at),
        func.max(ReportChange.created_at),
        func.max(ReportChange.id),
    ).group_by(ReportChange.association_id, ReportChange.month)
    found = [
        Pending(a, m, aware(first), aware(last), int(newest))
        for a, m, first, last, newest in session.exec(query)
    ]
    return sorted(found, key=lambda item: item.first)


def previous_month(config: Config, now: datetime) -> str:
    """The month before ``now``'s, in the instance's time zone ("YYYY-MM")."""
    first = aware(now).astimezone(config.zone).date().replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def links_missing(session: Session, month: str) -> list[NetworkLink]:
    """Active links with no live report for the month (the monthly report is due)."""
    sent = (
        select(SentReport.id)
        .where(
            SentReport.link_id == NetworkLink.id,
            SentReport.month == month,
            col(SentReport.deleted).is_(False),
        )
        .correlate(NetworkLink)
        .exists()
    )
    query = select(NetworkLink).where(NetworkLink.status == "active", ~sent)
    return list(session.exec(query.order_by(col(NetworkLink.id))))


def active_links(session: Session, association_id: int) -> list[NetworkLink]:
    """The association's active memberships of networks."""
    query = select(NetworkLink).where(
        NetworkLink.association_id == association_id, NetworkLink.status == "active"
    )
    return list(session.exec(query.order_by(col(NetworkLink.id))))


# -- one report ---------------------------------------------------------------------------


def _sent(session: Session, link_id: int, month: str) -> SentReport | None:
    query = select(SentReport).where(SentReport.link_id == link_id, SentReport.month == month)
    return session.exec(query.with_for_update()).first()


@dataclass(frozen=True)
class Outcome:
    """What publishing one report did, and when to look again if it must wait."""

    kind: str  # create | update | unchanged | waiting | skipped
    retry_at: datetime | None = None


def publish_report(
    session: Session,
    config: Config,
    *,
    link: NetworkLink,
    month: str,
    now: datetime,
    monthly: bool = False,
) -> Outcome:
    """Rebuild one link's report of a month and queue what changed (see the module)."""
    network, terms = reports_build.target_of(session, config, link)
    association = session.get(Association, link.association_id)
    if network is None or terms is None or association is None:
        log.info("report of %s for %s waits: the network is unknown", link.network_uri, month)
        return Outcome("skipped", now + RETRY)
    figures = figures_for(session, link=link, month=month, terms=terms)
    if figures is None:
        return Outcome("skipped", now + RETRY)
    document = reports_build.unsigned_object(
        config, slug=association.slug, network=network, figures=figures
    )
    assert link.id is not None
    row = _sent(session, link.id, month)
    if row is not None:
        document["id"] = row.object_id  # stable even if the network was renamed
    figures_digest = reports_build.digest(document)
    live = row is not None and not row.deleted
    if row is not None and live:
        if row.figures_digest == figures_digest:
            return Outcome("unchanged")
        if row.last_sent_at is not None and now < aware(row.last_sent_at) + DAY:
            return Outcome("waiting", aware(row.last_sent_at) + DAY)
    elif figures.empty and not monthly:
        return Outcome("unchanged")  # nothing to state yet: the monthly report will
    kind = "Update" if live else "Create"
    updated = reports_build.next_updated(row.updated_at if row is not None else None, now)
    signed = reports_build.signed_object(
        session, config, association_id=link.association_id, document=document, updated=updated
    )
    row = row or SentReport(object_id=document["id"], link_id=link.id, month=month)
    row.figures_digest, row.body, row.deleted = figures_digest, reports_build.dumps(signed), False
    row.updated_at, row.last_sent_at = updated, now if kind == "Update" else None
    session.add(row)
    session.flush()
    assert association.id is not None
    if not network.inbox:  # a network of this instance: kept at once, no traffic
        reports_in.accept_local(session, config, obj=signed, now=now)
        return Outcome(kind.lower())
    reports_build.send(
        session,
        association_id=association.id,
        issuer=document["attributedTo"],
        network=network,
        kind=kind,
        obj=signed,
        now=now,
    )
    return Outcome(kind.lower())


def delete_reports(session: Session, config: Config, link: NetworkLink) -> int:
    """Queue a Delete of every report of the link (erasure asked); how many."""
    association = session.get(Association, link.association_id)
    network = reports_build.network_actor(session, link.network_uri)
    if association is None or association.id is None:
        return 0
    issuer = urls.actor_uri(config, "association", association.slug)
    query = select(SentReport).where(
        SentReport.link_id == link.id, col(SentReport.deleted).is_(False)
    )
    rows = list(session.exec(query))
    local = network_links.local_slug(config, link.network_uri) is not None
    for row in rows:
        if local:
            reports_in.delete_report(
                session, actor_uri=issuer, object_id=row.object_id, now=utcnow()
            )
        elif network is not None and network.inbox:
            reports_build.send(
                session,
                association_id=association.id,
                issuer=issuer,
                network=network,
                kind="Delete",
                obj=reports_build.tombstone(row.object_id),
                now=utcnow(),
            )
        else:
            log.warning("the Delete of %s cannot be sent: the network is unknown", row.object_id)
        row.deleted, row.figures_digest, row.last_sent_at = True, "", None
        session.add(row)
    session.flush()
    return len(rows)


# -- the publisher (worker) ----------------------------------------------------------------


def _locked(session: Session) -> bool:
    if is_sqlite(session.get_bind()):
        return True
    statement = text("SELECT pg_try_advisory_xact_lock(:k)")
    return bool(session.execute(statement, {"k": PUBLISHER_LOCK}).scalar())


def _consume(session: Session, job: Job) -> None:
    if job.newest_id is None:
        return
    session.exec(
        delete(ReportChange).where(  # type: ignore[arg-type]
            col(ReportChange.association_id) == job.association_id,
            col(ReportChange.month) == job.month,
            col(ReportChange.id) <= job.newest_id,
        )
    )


def run_job(db: Database, config: Config, job: Job, *, now: datetime) -> str:
    """Publish one job in its own transaction: "done", "retry" (later) or "busy" (locked)."""
    with db.write() as session:
        if not _locked(session):
            return "busy"
        if job.link_id is not None:
            found = session.get(NetworkLink, job.link_id)
            links = [found] if found is not None and found.status == "active" else []
        else:
            links = active_links(session, job.association_id)
        retry: datetime | None = None
        for link in links:
            outcome = publish_report(
                session,
                config,
                link=link,
                month=job.month,
                now=now,
                monthly=job.link_id is not None,
            )
            log.debug("report %s %s: %s", link.id, job.month, outcome.kind)
            if outcome.retry_at is not None:
                retry = outcome.retry_at if retry is None else min(retry, outcome.retry_at)
        _consume(session, job)
        if retry is not None and job.link_id is None:  # kept, dated when it may go
            session.add(
                ReportChange(association_id=job.association_id, month=job.month, created_at=retry)
            )
    return "done" if retry is None else "retry"


def _run_jobs(db: Database, config: Config, jobs: list[Job], now: datetime) -> int:
    """Each job in its own transaction; one that fails is logged and dropped, not retried."""
    done, place = 0, str(db.engine.url)
    for job in jobs:
        try:
            result = run_job(db, config, job, now=now)
        except DBAPIError:  # the database itself (locked, gone): kept for the next round
            raise
        except Exception:  # a bug in one report must not block the others
            log.exception("the report of %s for %s failed", job.association_id, job.month)
            with db.write() as session:
                _consume(session, job)
            result = "retry"
        if result == "busy":
            break
        if result == "retry" and job.link_id is not None:  # a monthly report: later
            _backoff[(place, job.link_id)] = now + RETRY
        done += 1
    return done


#: (database, link id) -> when a monthly report that could not be built is tried again.
_backoff: dict[tuple[str, int], datetime] = {}


def _monthly_jobs(
    session: Session, config: Config, now: datetime
) -> tuple[list[Job], datetime | None]:
    """The monthly reports due now, and when the next one held back may be tried."""
    month, jobs, later = previous_month(config, now), [], None
    for link in links_missing(session, month):
        assert link.id is not None
        wait = _backoff.get((str(session.get_bind().engine.url), link.id))
        if wait is not None and wait > now:
            later = wait if later is None else min(later, wait)
            continue
        jobs.append(Job(link.association_id, month, link_id=link.id))
    return jobs, later


def _plan(db: Database, config: Config, now: datetime, limit: int) -> tuple[list[Job], list[str]]:
    """The jobs due now and the networks whose terms they need."""
    with db.read() as session:
        jobs = [
            Job(item.association_id, item.month, item.newest_id)
            for item in pending_changes(session)
            if item.due_at <= now
        ][:limit]
        jobs += _monthly_jobs(session, config, now)[0][: max(0, limit - len(jobs))]
        ids = {job.association_id for job in jobs}
        query = select(NetworkLink.network_uri).where(
            col(NetworkLink.association_id).in_(ids), NetworkLink.status == "active"
        )
        uris = sorted(set(session.exec(query))) if ids else []
        stale = [
            uri
            for uri in uris
            if network_links.local_slug(config, uri) is None
            and _stale(reports_build.network_actor(session, uri), now)
        ]
    return jobs, stale


def _stale(actor: RemoteActor | None, now: datetime) -> bool:
    return actor is None or aware(actor.expires_at) <= now


async def _refresh(db: Database, client: httpx.AsyncClient, config: Config, uri: str) -> None:
    """Fetch a network's actor again (its terms); the old copy serves when it fails."""
    try:
        await remote_actors.fetch_actor(db, client, config, uri)
    except (remote_actors.RemoteActorError, httpx.HTTPError) as error:
        log.info("fetching the network %s failed: %s", uri, error)


async def publish_due(
    db: Database, client: httpx.AsyncClient, config: Config, *, now: datetime, limit: int = 200
) -> int:
    """Rebuild and send the reports whose changes settled, and the monthly ones; how many."""
    jobs, stale = await asyncio.to_thread(_plan, db, config, now, limit)
    if not jobs:
        return 0
    for uri in stale:
        await _refresh(db, client, config, uri)
    return await asyncio.to_thread(_run_jobs, db, config, jobs, now)


def seconds_until_due(db: Database, config: Config, *, now: datetime) -> float | None:
    """How long until the next report is due (None: nothing waits)."""
    with db.read() as session:
        moments = [item.due_at for item in pending_changes(session)]
        jobs, later = _monthly_jobs(session, config, now)
    moments += [now] if jobs else []
    moments += [later] if later is not None else []
    if not moments:
        return None
    return max(0.0, (min(moments) - now).total_seconds())


def _woken(_mapper: Any, _connection: Any, target: ReportChange) -> None:
    session = object_session(target)
    if isinstance(session, Session):
        wakeup.notify_after_commit(session)


def listen_for_changes() -> None:
    """Wake this process's worker when a ReportChange row commits (idempotent)."""
    if not event.contains(ReportChange, "after_insert", _woken):
        event.listen(ReportChange, "after_insert", _woken)
