"""Issuing side of a person's hours: the signed HoursSummary of each association and month.

For a person whose account here is linked to a home instance (an accepted
incoming ``Follow`` of their actor), every (association, person, month) with
activity has one ``SentSummary``: the signed object last sent. ``SummaryChange``
rows, written in the transaction of each action change, say which ones to
rebuild; ``publish_due`` rebuilds them from the raw actions once a burst of
changes has settled (``QUIET`` after the last change, at most ``MAX_WAIT`` after
the first), and queues Create (first time), Update (after, and an Update to
zero when the month empties) or nothing (same figures) to the home actors'
inboxes, in the same transaction. Erasure (the account or the association
deleted) queues a Delete of every summary before the rows go.
"""

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import event, func, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import object_session
from sqlmodel import Session, col, delete, select

from federation import actor_keys, documents, outbox, proofs, urls, wakeup
from federation.peers import aware
from federation.summary_figures import MonthFigures, month_figures
from instance.config import Config
from instance.errors import NotFound
from schema import vocabulary
from schema.db import Database, is_sqlite
from schema.tables import (
    Association,
    Follow,
    Membership,
    RemoteActor,
    SentSummary,
    SummaryChange,
    User,
)

log = logging.getLogger("benefed.summaries")

QUIET = timedelta(milliseconds=200)
MAX_WAIT = timedelta(seconds=1)
BATCH = 50
CURRENCY = "EUR"
PUBLISHER_LOCK = 0x62737570  # pg advisory lock key: one summary publisher at a time
Key = tuple[int, int, str]  # (association_id, user_id, month)


# -- the object -------------------------------------------------------------------


def summary_id(config: Config, slug: str, username: str, month: str) -> str:
    """The stable id of the summary of (association, person, month)."""
    association = urls.actor_uri(config, "association", slug)
    return f"{association}/summaries/{quote(username, safe='')}/{month}"


def iso_precise(moment: datetime) -> str:
    """A UTC timestamp with microseconds and a Z (``updated`` must order every version)."""
    return aware(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def unsigned_object(
    config: Config,
    *,
    association: Association,
    user: User,
    month: str,
    homes: list[str],
    found: MonthFigures,
) -> dict[str, Any]:
    """The HoursSummary without its ``updated`` time and proof."""
    total = found.total
    amount = total.valued_amount
    return {
        "@context": vocabulary.summary_context(),
        "id": summary_id(config, association.slug, user.username, month),
        "type": vocabulary.HOURS_SUMMARY,
        "attributedTo": urls.actor_uri(config, "association", association.slug),
        "name": association.name,
        "volunteer": urls.actor_uri(config, "user", user.username),
        "to": sorted(homes),
        "month": month,
        "minutes": total.minutes,
        "actions": total.actions,
        "validatedMinutes": total.minutes,
        "pendingMinutes": total.pending_minutes,
        "minutesByCategory": [
            {"name": name, "minutes": minutes} for name, minutes in found.categories
        ],
        "valuedAmount": amount,
        "currency": CURRENCY if amount is not None else None,
    }


def digest(document: dict[str, Any]) -> str:
    """The SHA-256 of what a summary states (JCS), to skip sending the same figures again."""
    return hashlib.sha256(proofs.canonical_json(document)).hexdigest()


def sign(
    session: Session, config: Config, association_id: int, document: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The document signed with the association's current Ed25519 key (eddsa-jcs-2022)."""
    key_id, private = actor_keys.ed25519_signing_key(
        session, config=config, kind="association", owner_id=association_id
    )
    return proofs.sign_object(document, private, key_id, now)


def _dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


# -- who receives ---------------------------------------------------------------------


def homes_of(session: Session, user_id: int) -> list[RemoteActor]:
    """The home actors of the person's accepted incoming links (not gone)."""
    query = (
        select(RemoteActor)
        .join(Follow, col(Follow.remote_actor_id) == col(RemoteActor.id))
        .where(
            Follow.direction == "in",
            Follow.local_kind == "user",
            Follow.local_id == user_id,
            Follow.state == "accepted",
            col(RemoteActor.is_gone).is_(False),
        )
        .order_by(col(RemoteActor.id))
    )
    return list(session.exec(query))


def _inboxes(actors: list[RemoteActor]) -> list[str]:
    return [
        actor.inbox or actor.shared_inbox for actor in actors if actor.inbox or actor.shared_inbox
    ]


def _activity(kind: str, actor: str, to: list[str], obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": vocabulary.summary_context(),
        "id": f"{obj['id']}#{kind.lower()}-{uuid.uuid4().hex}",
        "type": kind,
        "actor": actor,
        "to": to,
        "object": obj,
    }


def send_activity(
    session: Session,
    *,
    user_id: int,
    kind: str,
    obj: dict[str, Any],
    actor: str,
    homes: list[RemoteActor],
    now: datetime,
) -> None:
    """Queue a Create, Update or Delete of a summary by the person's actor to their homes."""
    activity = _activity(kind, actor, [home.uri for home in homes], obj)
    outbox.publish(
        session,
        config=None,  # the body is signed at send time with the person's key
        actor_kind="user",
        actor_id=user_id,
        activity=activity,
        inboxes=_inboxes(homes),
        now=now,
    )


# -- publishing one summary ------------------------------------------------------------


def _live_actors(session: Session, config: Config, association: Association, user: User) -> bool:
    """True when both the association and the person have an actor here (else nothing is sent)."""
    try:
        documents.find_local_actor(session, config, "association", association.slug)
        documents.find_local_actor(session, config, "user", user.username)
    except (NotFound, documents.ActorGone):
        return False
    return True


def _sent(session: Session, key: Key) -> SentSummary | None:
    association_id, user_id, month = key
    query = select(SentSummary).where(
        SentSummary.association_id == association_id,
        SentSummary.user_id == user_id,
        SentSummary.month == month,
    )
    return session.exec(query.with_for_update()).first()


@dataclass(frozen=True)
class _Subject:
    association: Association
    user: User
    membership_id: int
    homes: list[RemoteActor]


def _subject(session: Session, config: Config, key: Key) -> _Subject | None:
    """What a summary is about, when it may be sent (linked person, both actors live)."""
    association_id, user_id, _month = key
    association, user = session.get(Association, association_id), session.get(User, user_id)
    query = select(Membership.id).where(
        Membership.association_id == association_id, Membership.user_id == user_id
    )
    membership_id = session.exec(query).first()
    if association is None or user is None or membership_id is None:
        return None
    homes = homes_of(session, user_id)
    if not homes or not _live_actors(session, config, association, user):
        return None
    return _Subject(association, user, membership_id, homes)


def publish_summary(session: Session, config: Config, key: Key, *, now: datetime) -> str:
    """Rebuild one summary and queue what changed: "create", "update", "unchanged" or "skipped"."""
    subject = _subject(session, config, key)
    if subject is None:
        return "skipped"
    month = key[2]
    found = month_figures(
        session, association=subject.association, membership_id=subject.membership_id, month=month
    )
    row = _sent(session, key)
    live = row is not None and not row.deleted
    if found.empty and not live:
        return "unchanged"
    homes = [home.uri for home in subject.homes]
    document = unsigned_object(
        config,
        association=subject.association,
        user=subject.user,
        month=month,
        homes=homes,
        found=found,
    )
    figures_digest = digest(document)
    if live and row is not None and row.figures_digest == figures_digest:
        return "unchanged"
    row = row or SentSummary(
        object_id=document["id"], association_id=key[0], user_id=key[1], month=month
    )
    updated = _next_updated(row if live else None, now)
    stamped = {**document, "updated": iso_precise(updated)}
    signed = sign(session, config, key[0], stamped, now)
    row.figures_digest, row.body, row.deleted, row.updated_at = (
        figures_digest,
        _dumps(signed),
        False,
        updated,
    )
    session.add(row)
    session.flush()
    kind = "Update" if live else "Create"
    send_activity(
        session,
        user_id=key[1],
        kind=kind,
        obj=signed,
        actor=document["volunteer"],
        homes=subject.homes,
        now=now,
    )
    return kind.lower()


def _next_updated(row: SentSummary | None, now: datetime) -> datetime:
    """Now, or just after the last version when the clock has not moved past it."""
    if row is None:
        return now
    last = aware(row.updated_at)
    return now if now > last else last + timedelta(microseconds=1)


# -- the publisher (worker) -------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """The changes waiting for one summary: since when, the last one, the newest row id."""

    key: Key
    first: datetime
    last: datetime
    newest_id: int

    @property
    def due_at(self) -> datetime:
        """When the burst is considered settled."""
        return min(self.last + QUIET, self.first + MAX_WAIT)


def pending_changes(session: Session) -> list[Pending]:
    """Every summary with changes waiting, oldest first."""
    query = select(
        SummaryChange.association_id,
        SummaryChange.user_id,
        SummaryChange.month,
        func.min(SummaryChange.created_at),
        func.max(SummaryChange.created_at),
        func.max(SummaryChange.id),
    ).group_by(SummaryChange.association_id, SummaryChange.user_id, SummaryChange.month)
    found = [
        Pending((a, u, m), aware(first), aware(last), int(newest))
        for a, u, m, first, last, newest in session.exec(query)
    ]
    return sorted(found, key=lambda item: item.first)


def _locked(session: Session) -> bool:
    if is_sqlite(session.get_bind()):
        return True
    statement = text("SELECT pg_try_advisory_xact_lock(:k)")
    return bool(session.execute(statement, {"k": PUBLISHER_LOCK}).scalar())


def _consume(session: Session, item: Pending) -> None:
    association_id, user_id, month = item.key
    session.exec(
        delete(SummaryChange).where(  # type: ignore[arg-type]
            col(SummaryChange.association_id) == association_id,
            col(SummaryChange.user_id) == user_id,
            col(SummaryChange.month) == month,
            col(SummaryChange.id) <= item.newest_id,
        )
    )


def _publish_batch(db: Database, config: Config, items: list[Pending], now: datetime) -> int:
    with db.write() as session:
        if not _locked(session):
            return 0
        for item in items:
            outcome = publish_summary(session, config, item.key, now=now)
            log.debug("summary %s: %s", item.key, outcome)
            _consume(session, item)
    return len(items)


def _publish_each(db: Database, config: Config, items: list[Pending], now: datetime) -> int:
    """One transaction per summary; one that fails is logged and dropped, not retried forever."""
    done = 0
    for item in items:
        try:
            done += _publish_batch(db, config, [item], now)
        except DBAPIError:  # the database itself (locked, gone): kept for the next round
            raise
        except Exception:  # a bug in one summary must not block the others
            log.exception("summary %s could not be published; its changes are dropped", item.key)
            with db.write() as session:
                _consume(session, item)
            done += 1
    return done


def publish_due(db: Database, config: Config, *, now: datetime, limit: int = 500) -> int:
    """Rebuild and send the summaries whose changes have settled; how many were handled."""
    with db.read() as session:
        due = [item for item in pending_changes(session) if item.due_at <= now][:limit]
    done = 0
    for start in range(0, len(due), BATCH):
        batch = due[start : start + BATCH]
        try:
            done += _publish_batch(db, config, batch, now)
        except DBAPIError:
            raise
        except Exception:  # find the culprit: one transaction each
            log.warning("a batch of summaries failed; publishing them one by one")
            done += _publish_each(db, config, batch, now)
    return done


def seconds_until_due(db: Database, *, now: datetime) -> float | None:
    """How long until the next waiting summary is due (None: nothing waits)."""
    with db.read() as session:
        found = pending_changes(session)
    if not found:
        return None
    return max(0.0, (min(item.due_at for item in found) - now).total_seconds())


def _woken(_mapper: Any, _connection: Any, target: SummaryChange) -> None:
    session = object_session(target)
    if isinstance(session, Session):
        wakeup.notify_after_commit(session)


def listen_for_changes() -> None:
    """Wake this process's worker when a SummaryChange row commits (idempotent)."""
    if not event.contains(SummaryChange, "after_insert", _woken):
        event.listen(SummaryChange, "after_insert", _woken)
