"""Processing received activities: a dict of small handlers, each idempotent.

Items are stored once by the inbox (federation/inbox.py) and processed here by
the worker, each in its own transaction together with its ``processed_at``
mark, so an activity takes effect exactly once. Unknown types are marked
processed and ignored. A handler that raises is retried (``MAX_ATTEMPTS``), then
left with its error. Other areas may add handlers to ``HANDLERS``.
"""

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import text
from sqlmodel import Session, col, select

from federation import (
    actor_documents,
    documents,
    follows,
    links,
    network_joins,
    network_requests,
    remote_actors,
    reports_in,
    summaries_in,
    summary_reconcile,
    urls,
)
from instance.config import Config
from instance.errors import DomainError
from schema.db import Database, is_sqlite
from schema.tables import Follow, InboxItem, RemoteActor

log = logging.getLogger("benefed.inbox")

MAX_ATTEMPTS = 5
REPORT_BATCH = 50  # network reports processed in one transaction
ACTOR_TYPES = actor_documents.ACTOR_TYPES
PROCESSOR_LOCK = 0x62656E65  # pg advisory lock key: one inbox processor at a time


@dataclass(frozen=True)
class Context:
    """What a handler gets besides the session and the activity."""

    config: Config
    now: datetime
    item: InboxItem


Handler = Callable[[Session, Context, dict[str, Any]], None]


def id_of(value: Any) -> str:
    """The id of a reference: a string, or an embedded object's "id"."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def types_of(value: Any) -> list[str]:
    """The type(s) of an object as a list of strings."""
    found = value.get("type") if isinstance(value, dict) else None
    found = found if isinstance(found, list) else [found]
    return [t for t in found if isinstance(t, str)]


def _remote(session: Session, uri: str) -> RemoteActor | None:
    return session.exec(select(RemoteActor).where(RemoteActor.uri == uri)).first()


def on_follow(session: Session, ctx: Context, activity: dict[str, Any]) -> None:
    """A remote actor asks to follow one of ours."""
    target = urls.parse_local_actor(ctx.config, id_of(activity.get("object")))
    remote = _remote(session, id_of(activity.get("actor")))
    if target is None or remote is None:
        return
    kind, ident = target
    try:
        local = documents.find_local_actor(session, ctx.config, kind, ident)
    except (DomainError, documents.ActorGone):
        return
    if local.kind == "instance":
        return
    if network_joins.is_membership(activity):
        network_requests.receive_request(
            session, config=ctx.config, remote=remote, local=local, activity=activity
        )
        return
    auto = local.association is not None and not local.association.approve_follows
    follows.receive_follow(
        session,
        config=ctx.config,
        remote=remote,
        kind=local.kind,
        owner_id=local.owner_id,
        follow_activity_id=id_of(activity),
        auto_accept=auto,
        now=ctx.now,
    )


def on_undo(session: Session, ctx: Context, activity: dict[str, Any]) -> None:
    """A remote actor takes back its Follow (other Undos are ignored)."""
    inner = activity.get("object")
    remote = _remote(session, id_of(activity.get("actor")))
    if remote is None:
        return
    follow = _find_follow(session, ctx, direction="in", remote=remote, reference=inner)
    if follow is not None and follow.state != "ended":
        follow.state = "ended"
        follow.updated_at = ctx.now
        session.add(follow)
    if follow is not None and follow.local_kind == "user" and links.wants_erase(activity):
        links.erase_sent(session, user_id=follow.local_id)  # a person's link, erasure asked
    network_requests.on_undo(
        session, config=ctx.config, remote=remote, follow=follow, activity=activity
    )


def _find_follow(
    session: Session, ctx: Context, *, direction: str, remote: RemoteActor, reference: Any
) -> Follow | None:
    query = select(Follow).where(Follow.direction == direction, Follow.remote_actor_id == remote.id)
    wanted = id_of(reference)
    if wanted:
        found = session.exec(query.where(Follow.follow_activity_id == wanted)).first()
        if found is not None:
            return found
    if not isinstance(reference, dict) or "Follow" not in types_of(reference):
        return None
    # Without a known id: the embedded Follow names our actor (object for "in", actor for "out").
    ours = reference.get("object" if direction == "in" else "actor")
    parsed = urls.parse_local_actor(ctx.config, id_of(ours))
    if parsed is None:
        return None
    kind, ident = parsed
    try:
        local = documents.find_local_actor(session, ctx.config, kind, ident)
    except (DomainError, documents.ActorGone):
        return None
    return session.exec(
        query.where(Follow.local_kind == local.kind, Follow.local_id == local.owner_id)
    ).first()


def _answer_to_our_follow(
    session: Session, ctx: Context, activity: dict[str, Any], state: str
) -> None:
    remote = _remote(session, id_of(activity.get("actor")))
    if remote is None:
        return
    follow = _find_follow(
        session, ctx, direction="out", remote=remote, reference=activity.get("object")
    )
    if follow is None or follow.state == "ended" or follow.state == state:
        return
    if state == "accepted" and follow.state != "pending":
        return
    if state == "rejected" and follow.state == "accepted" and follow.local_kind == "user":
        state = "ended"  # the other side ended a person's link: not a refusal
    follow.state = state
    follow.updated_at = ctx.now
    session.add(follow)


def on_accept(session: Session, ctx: Context, activity: dict[str, Any]) -> None:
    """The actor we asked to follow accepted (a network: the membership is active)."""
    _answer_to_our_follow(session, ctx, activity, "accepted")
    network_joins.on_answer(session, _remote(session, id_of(activity.get("actor"))), activity, True)


def on_reject(session: Session, ctx: Context, activity: dict[str, Any]) -> None:
    """The actor we follow (or asked to) refused or removed us (a network: refused or left)."""
    _answer_to_our_follow(session, ctx, activity, "rejected")
    network_joins.on_answer(
        session, _remote(session, id_of(activity.get("actor"))), activity, False
    )


def on_delete(session: Session, ctx: Context, activity: dict[str, Any]) -> None:
    """A remote actor deleted itself (it is gone, its follows end), or a summary or report."""
    actor_uri = id_of(activity.get("actor"))
    if id_of(activity.get("object")) != actor_uri:
        if reports_in.on_delete(session, activity, now=ctx.now) == "ignored":
            summaries_in.on_delete(session, activity, now=ctx.now)  # others are ignored there
        return
    remote = _remote(session, actor_uri)
    if remote is None:
        return
    remote.is_gone = True
    session.add(remote)
    for follow in session.exec(select(Follow).where(Follow.remote_actor_id == remote.id)):
        if follow.state != "ended":
            follow.state = "ended"
            follow.updated_at = ctx.now
            session.add(follow)


def on_update(session: Session, ctx: Context, activity: dict[str, Any]) -> None:
    """An Update of a summary or a network report; an actor's was handled before (refetched)."""
    if summaries_in.is_summary(activity.get("object")):
        summaries_in.on_summary(session, ctx.config, activity, now=ctx.now)
    elif reports_in.is_report(activity.get("object")):
        reports_in.on_report(session, ctx.config, activity, now=ctx.now)


def on_create(session: Session, ctx: Context, activity: dict[str, Any]) -> None:
    """A Create of a summary or a network report (other objects are ignored)."""
    if summaries_in.is_summary(activity.get("object")):
        summaries_in.on_summary(session, ctx.config, activity, now=ctx.now)
    elif reports_in.is_report(activity.get("object")):
        reports_in.on_report(session, ctx.config, activity, now=ctx.now)


HANDLERS: dict[str, Handler] = {
    "Create": on_create,
    "Follow": on_follow,
    "Undo": on_undo,
    "Accept": on_accept,
    "Reject": on_reject,
    "Delete": on_delete,
    "Update": on_update,
}


def handler_for(activity: dict[str, Any]) -> Handler | None:
    """The handler of the activity's first known type (None: stored and ignored)."""
    for kind in types_of(activity):
        if kind in HANDLERS:
            return HANDLERS[kind]
    return None


def is_actor_update(activity: dict[str, Any]) -> bool:
    """True for an Update whose object is the sending actor itself."""
    inner = activity.get("object")
    return (
        "Update" in types_of(activity)
        and isinstance(inner, dict)
        and bool(ACTOR_TYPES.intersection(types_of(inner)))
        and id_of(inner) == id_of(activity.get("actor"))
    )


# -- running ------------------------------------------------------------------------


def _pending(db: Database, limit: int) -> list[tuple[int, str]]:
    with db.read() as session:
        query = (
            select(InboxItem.id, InboxItem.body)
            .where(col(InboxItem.processed_at).is_(None), InboxItem.attempts < MAX_ATTEMPTS)
            .order_by(col(InboxItem.id))
            .limit(limit)
        )
        return [(row_id, body) for row_id, body in session.exec(query) if row_id is not None]


def _locked(session: Session) -> bool:
    """Take the processor lock for this transaction (PostgreSQL); False when busy."""
    if is_sqlite(session.get_bind()):
        return True
    return bool(
        session.execute(
            text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": PROCESSOR_LOCK}
        ).scalar()
    )


def process_item(db: Database, config: Config, item_id: int, *, now: datetime) -> bool:
    """Process one stored activity, exactly once; False when another worker holds the lock."""
    try:
        with db.write() as session:
            if not _locked(session):
                return False
            item = session.get(InboxItem, item_id, with_for_update=True)
            if item is None or item.processed_at is not None:
                return True
            activity = json.loads(item.body)
            handler = handler_for(activity)
            if handler is not None:
                handler(session, Context(config=config, now=now, item=item), activity)
            item.processed_at = now
            item.error = ""
            session.add(item)
    except Exception as error:  # a handler's bug must not stop the worker
        log.exception("processing inbox item %s failed", item_id)
        _record_failure(db, item_id, error, now=now)
    return True


def _record_failure(db: Database, item_id: int, error: Exception, *, now: datetime) -> None:
    with db.write() as session:
        item = session.get(InboxItem, item_id)
        if item is None:
            return
        item.attempts += 1
        item.error = f"{type(error).__name__}: {error}"[:2000]
        if item.attempts >= MAX_ATTEMPTS:
            item.processed_at = now
        session.add(item)


async def _refresh_actor(db: Database, client: httpx.AsyncClient, config: Config, uri: str) -> None:
    try:
        await remote_actors.fetch_actor(db, client, config, uri, force=True)
    except (remote_actors.RemoteActorError, httpx.HTTPError) as error:
        log.info("refreshing %s after its Update failed: %s", uri, error)


def is_report_activity(activity: Any) -> bool:
    """True for a Create or Update of a network report (handled by reports_in.on_report)."""
    if not isinstance(activity, dict) or handler_for(activity) not in (on_create, on_update):
        return False
    inner = activity.get("object")
    return reports_in.is_report(inner) and not summaries_in.is_summary(inner)


def process_reports(db: Database, config: Config, item_ids: list[int], *, now: datetime) -> bool:
    """Process several stored reports in one transaction (group commit), each exactly once.

    The reports share their lookups (reports_in.Lookups). When anything fails, the
    transaction is rolled back and each item is processed alone (process_item), so
    a bad item fails only itself. False when another worker holds the lock.
    """
    try:
        with db.write() as session:
            if not _locked(session):
                return False
            query = (
                select(InboxItem)
                .where(col(InboxItem.id).in_(item_ids))
                .order_by(col(InboxItem.id))
                .with_for_update()
            )
            items = [item for item in session.exec(query) if item.processed_at is None]
            activities = [json.loads(item.body) for item in items]
            if not all(is_report_activity(activity) for activity in activities):
                raise ValueError("an inbox item of the batch is not a report")
            lookups = reports_in.Lookups()
            lookups.preload(session, [id_of(activity["object"]) for activity in activities])
            for item, activity in zip(items, activities, strict=True):
                reports_in.on_report(session, config, activity, now=now, lookups=lookups)
                item.processed_at = now
                item.error = ""
                session.add(item)
            lookups.finish(session)
        return True
    except Exception:  # one at a time: the failing item records its own error
        log.info("processing %s reports together failed; one at a time", len(item_ids))
    for item_id in item_ids:
        if not process_item(db, config, item_id, now=now):
            return False
    return True


def _parsed(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return {}


async def _process_reports(
    db: Database,
    client: httpx.AsyncClient,
    config: Config,
    run: list[tuple[int, Any]],
    *,
    now: datetime,
) -> bool:
    # The senders' keys, outside the transaction: once per sender and key in the run.
    prefetched: set[str] = set()
    for _item_id, activity in run:
        issuer = f"{id_of(activity.get('actor'))} {reports_in.proof_key(activity.get('object'))}"
        if issuer not in prefetched:
            prefetched.add(issuer)
            await reports_in.prefetch(db, client, config, activity)
    ids = [item_id for item_id, _activity in run]
    return await asyncio.to_thread(process_reports, db, config, ids, now=now)


def _report_run(pending: list[tuple[int, Any]], start: int) -> list[tuple[int, Any]]:
    """The consecutive reports from ``start`` (at most REPORT_BATCH; empty: not a report)."""
    run = []
    for item_id, activity in pending[start : start + REPORT_BATCH]:
        if not is_report_activity(activity):
            break
        run.append((item_id, activity))
    return run


async def process_pending(
    db: Database, client: httpx.AsyncClient, config: Config, *, now: datetime, limit: int = 100
) -> int:
    """Process the stored activities waiting (oldest first); return how many were handled.

    Consecutive network reports go together, in one transaction (process_reports).
    """
    pending = [
        (item_id, _parsed(body)) for item_id, body in await asyncio.to_thread(_pending, db, limit)
    ]
    done = 0
    index = 0
    while index < len(pending):
        run = _report_run(pending, index)
        if run:
            if not await _process_reports(db, client, config, run, now=now):
                break
            done += len(run)
            index += len(run)
            continue
        item_id, activity = pending[index]
        index += 1
        if isinstance(activity, dict) and is_actor_update(activity):
            await _refresh_actor(db, client, config, id_of(activity.get("actor")))
        await summaries_in.prefetch(db, client, config, activity)  # the signer, outside the txn
        await reports_in.prefetch(db, client, config, activity)  # a member's new key, likewise
        if not await asyncio.to_thread(process_item, db, config, item_id, now=now):
            break
        done += 1
        if isinstance(activity, dict) and "Accept" in types_of(activity):
            await summary_reconcile.after_accept(db, client, config, activity)
    return done
