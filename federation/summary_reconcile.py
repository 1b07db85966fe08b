"""Reconciling a person's received summaries with the collection their other instance holds.

For each active link of the person, home fetches ``{their actor elsewhere}/summaries``
with a GET signed by the person's own actor (the issuing side lets only the
linked home actor read it; the instance actor could not tell which person asks).
Every summary in it goes through the same checks as one delivered to the inbox
and replaces an older copy; tombstones delete; a summary we hold that is no
longer in the collection was erased there (its association or account is gone)
and is deleted here too. Runs when a link is accepted, on demand from the
person's page (``reconcile_user``), and when a host marked dead answers again.

A linked actor that is gone (its server answers 410 for it, or it deleted
itself) is a deleted account: what it sent is deleted here and the link ends,
even when its own Deletes could not be checked any more (its key had expired
from our cache and its actor answers only a Tombstone).
"""

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlmodel import col, select

from federation import actor_documents, actor_keys, remote_actors, summaries_in, summary_erasure
from federation.safe_http import is_activitypub_type, signed_get
from instance.config import Config
from schema.db import Database
from schema.tables import Follow, PeerHost, ReceivedSummary, RemoteActor, User
from schema.tables._base import utcnow

log = logging.getLogger("benefed.summaries")

COLLECTION_MAX_BYTES = 16 * 1_048_576
MAX_ITEMS = 20_000


class ReconcileError(Exception):
    """The collection could not be fetched or read (``status``: the HTTP answer, if any)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Report:
    """What one reconciliation did."""

    links: int = 0
    stored: int = 0
    deleted: int = 0
    rejected: int = 0
    failed: list[str] = field(default_factory=list)


def _links(db: Database, user_id: int, hosts: set[str] | None) -> list[tuple[int, RemoteActor]]:
    with db.read() as session:
        query = (
            select(Follow.id, RemoteActor)
            .join(RemoteActor, col(RemoteActor.id) == col(Follow.remote_actor_id))
            .where(
                Follow.direction == "out",
                Follow.local_kind == "user",
                Follow.local_id == user_id,
                Follow.state == "accepted",
            )
        )
        found = [(follow_id, remote) for follow_id, remote in session.exec(query) if follow_id]
    return [item for item in found if hosts is None or item[1].host in hosts]


def _signer(db: Database, config: Config, user_id: int) -> tuple[str, Any] | None:
    """The person's RSA key (None when their actor is off: nobody could check the signature)."""
    with db.read() as session:
        user = session.get(User, user_id)
    if user is None or not user.federation_enabled or user.is_suspended:
        return None
    with db.write() as session:
        return actor_keys.signing_key(session, config=config, kind="user", owner_id=user_id)


async def fetch_collection(
    client: httpx.AsyncClient, remote: RemoteActor, signer: tuple[str, Any]
) -> list[Any]:
    """The items of a person's summaries collection on their other instance."""
    url = f"{remote.uri}/summaries"
    key_id, private_key = signer
    try:
        response = await signed_get(
            client, url, key_id=key_id, private_key=private_key, limit=COLLECTION_MAX_BYTES
        )
    except httpx.HTTPError as error:
        raise ReconcileError(f"fetching {url} failed: {error}") from None
    if response.status_code != 200:
        raise ReconcileError(f"{url} answered {response.status_code}", response.status_code)
    if not is_activitypub_type(response.headers.get("content-type", "")):
        raise ReconcileError(f"{url} is not ActivityPub JSON")
    try:
        document = json.loads(response.content)
        actor_documents.check_keywords(document)
    except (ValueError, RecursionError, actor_documents.DocumentError) as error:
        raise ReconcileError(f"{url} is not readable: {error}") from None
    if not isinstance(document, dict) or document.get("id") != url:
        raise ReconcileError(f"{url} is not a summaries collection")
    items = document.get("orderedItems")
    if not isinstance(items, list) or len(items) > MAX_ITEMS:
        raise ReconcileError(f"{url} is not a summaries collection")
    return items


def apply_collection(
    db: Database,
    config: Config,
    *,
    user_id: int,
    remote: RemoteActor,
    items: list[Any],
    now: datetime,
) -> Report:
    """Replace, insert and delete this person's summaries from that actor after the collection."""
    report = Report(links=1)
    listed: set[str] = set()
    with db.write() as session:
        for item in items:
            object_id = item.get("id") if isinstance(item, dict) else None
            if not isinstance(object_id, str) or not actor_documents.same_origin(
                object_id, remote.uri
            ):
                continue
            listed.add(object_id)
            if summaries_in.is_summary_tombstone(item):
                done = summaries_in.delete_summary(
                    session, actor_uri=remote.uri, object_id=object_id, now=now
                )
                report.deleted += done == "deleted"
            elif summaries_in.is_summary(item):
                done = summaries_in.accept_summary(
                    session, config, actor_uri=remote.uri, obj=item, now=now
                )
                report.stored += done == "stored"
                report.rejected += done == "rejected"
        held = select(ReceivedSummary).where(
            ReceivedSummary.user_id == user_id,
            ReceivedSummary.subject_uri == remote.uri,
            col(ReceivedSummary.deleted).is_(False),
        )
        for row in list(session.exec(held)):
            if row.object_id not in listed:
                summaries_in.tombstone(session, row, now=now)
                report.deleted += 1
    return report


async def reconcile_user(
    db: Database,
    client: httpx.AsyncClient,
    config: Config,
    user_id: int,
    *,
    hosts: set[str] | None = None,
) -> Report:
    """Fetch and apply the collection of each active link of the person (of these hosts only)."""
    report = Report()
    links = await asyncio.to_thread(_links, db, user_id, hosts)
    if not links:
        return report
    signer = await asyncio.to_thread(_signer, db, config, user_id)
    if signer is None:
        return report
    for follow_id, remote in links:
        try:
            if remote.is_gone:
                raise ReconcileError(f"{remote.uri} is gone", 410)
            items = await fetch_collection(client, remote, signer)
        except ReconcileError as error:
            if await _gone(db, client, config, remote, error):
                erased = await asyncio.to_thread(
                    erase_gone,
                    db,
                    user_id=user_id,
                    follow_id=follow_id,
                    remote=remote,
                    now=utcnow(),
                )
                report.links += 1
                report.deleted += erased
                continue
            log.info("reconciling summaries with %s failed: %s", remote.uri, error)
            report.failed.append(remote.uri)
            continue
        for item in items:
            if summaries_in.is_summary(item):
                await summaries_in.prefetch_issuer(db, client, config, remote.uri, item)
        done = await asyncio.to_thread(
            apply_collection, db, config, user_id=user_id, remote=remote, items=items, now=utcnow()
        )
        report.links += 1
        report.stored += done.stored
        report.deleted += done.deleted
        report.rejected += done.rejected
    return report


async def _gone(
    db: Database, client: httpx.AsyncClient, config: Config, remote: RemoteActor, error: Exception
) -> bool:
    """True when the linked actor is gone: known so, or its server answers 410 for it now."""
    if remote.is_gone:
        return True
    if not isinstance(error, ReconcileError) or error.status not in {404, 410}:
        return False
    try:
        await remote_actors.fetch_actor(db, client, config, remote.uri, force=True)
    except remote_actors.RemoteActorGone:
        return True
    except (remote_actors.RemoteActorError, httpx.HTTPError):
        return False
    return False


def erase_gone(
    db: Database, *, user_id: int, follow_id: int, remote: RemoteActor, now: datetime
) -> int:
    """The linked account is deleted: delete what it sent to the person, end the link; how many."""
    with db.write() as session:
        held = select(ReceivedSummary).where(
            ReceivedSummary.user_id == user_id,
            ReceivedSummary.subject_uri == remote.uri,
            col(ReceivedSummary.deleted).is_(False),
        )
        rows = list(session.exec(held))
        for row in rows:
            summaries_in.tombstone(session, row, now=now)
        link = session.get(Follow, follow_id)
        if link is not None and link.state in {"pending", "accepted"}:
            link.state, link.updated_at = "ended", now
            session.add(link)
    return len(rows)


def _linked_by(db: Database, actor: str) -> list[tuple[int, str]]:
    """(person, host) of our accepted links to this remote actor."""
    with db.read() as session:
        query = (
            select(Follow.local_id, RemoteActor.host)
            .join(RemoteActor, col(RemoteActor.id) == col(Follow.remote_actor_id))
            .where(
                RemoteActor.uri == actor,
                Follow.direction == "out",
                Follow.local_kind == "user",
                Follow.state == "accepted",
            )
        )
        return [(user_id, host) for user_id, host in session.exec(query) if user_id]


async def after_accept(
    db: Database, client: httpx.AsyncClient, config: Config, activity: Any
) -> None:
    """After an Accept of a person's link: reconcile with that link at once."""
    actor = activity.get("actor") if isinstance(activity, dict) else None
    if not isinstance(actor, str):
        return
    for user_id, host in await asyncio.to_thread(_linked_by, db, actor):
        await reconcile_user(db, client, config, user_id, hosts={host})


def _revived(db: Database, now: datetime) -> list[str]:
    """Hosts that came back from the dead state; their summaries are sent again to them."""
    waiting = select(PeerHost.host).where(col(PeerHost.revived_at).is_not(None)).limit(1)
    with db.read() as session:
        if session.exec(waiting).first() is None:
            return []
    with db.write() as session:
        rows = list(session.exec(select(PeerHost).where(col(PeerHost.revived_at).is_not(None))))
        for row in rows:
            summary_erasure.resend_to_host(session, host=row.host, now=now)
            row.revived_at = None
            session.add(row)
        return [row.host for row in rows]


def _people_linked_to(db: Database, host: str) -> list[int]:
    with db.read() as session:
        query = (
            select(Follow.local_id)
            .join(RemoteActor, col(RemoteActor.id) == col(Follow.remote_actor_id))
            .where(
                RemoteActor.host == host,
                Follow.direction == "out",
                Follow.local_kind == "user",
                Follow.state == "accepted",
            )
            .distinct()
        )
        return [user_id for user_id in session.exec(query) if user_id]


async def reconcile_revived(
    db: Database, client: httpx.AsyncClient, config: Config, *, now: datetime
) -> int:
    """For each host back from the dead: send our summaries again, reconcile with its own."""
    hosts = await asyncio.to_thread(_revived, db, now)
    for host in hosts:
        for user_id in await asyncio.to_thread(_people_linked_to, db, host):
            await reconcile_user(db, client, config, user_id, hosts={host})
    return len(hosts)
