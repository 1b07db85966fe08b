"""The reconciliation collection: every current summary about a person, to their home only.

``GET {base}/users/{username}/summaries`` answers an OrderedCollection of the
signed objects this instance currently states about the person (tombstones
included), exactly as last sent. Only a signed GET whose key belongs to one of
the person's home actors (an accepted link) may read it: unsigned or unverified
requests get 401, other signers 403, an unknown person 404.
"""

import asyncio
import json
from datetime import datetime
from typing import Any

import httpx
from sqlmodel import Session, col, select

from federation import (
    blocks,
    remote_actors,
    signatures,
    signed_requests,
    summary_erasure,
    urls,
    verification,
)
from instance.config import Config
from schema import vocabulary
from schema.db import Database
from schema.tables import Follow, RemoteActor, SentSummary, User

COLLECTION_PATH = "summaries"


def collection_uri(config: Config, username: str) -> str:
    """Where a person's summaries collection lives."""
    return f"{urls.actor_uri(config, 'user', username)}/{COLLECTION_PATH}"


def _check_target(config: Config, request: signed_requests.IncomingRequest, key_id: str) -> None:
    sent = request.fields.get("host", "")
    try:
        theirs = signatures.authority(f"{request.scheme}://{sent}") if sent else ""
    except ValueError:
        theirs = ""
    if theirs != signatures.authority(config.base_url):
        raise signed_requests.Refused(401, "the request was not addressed to this host")
    if not key_id.startswith(("https://", "http://")) or urls.is_local(config, key_id):
        raise signed_requests.Refused(401, "the key is not another server's")


def _blocked(db: Database, key_id: str) -> bool:
    with db.read() as session:
        return blocks.is_blocked(
            session, host=blocks.host_of(key_id), actor_uri=key_id.partition("#")[0]
        )


async def verify_reader(
    db: Database,
    client: httpx.AsyncClient,
    config: Config,
    request: signed_requests.IncomingRequest,
    *,
    now: datetime,
) -> RemoteActor:
    """The remote actor who signed this GET; ``signed_requests.Refused`` (401/403) otherwise."""
    key_id = signed_requests.key_id(request)
    _check_target(config, request, key_id)
    if await asyncio.to_thread(_blocked, db, key_id):
        raise signed_requests.Refused(403, "this server or account is blocked here")
    skew = config.federation.signature_skew_seconds
    signed_requests.precheck(request, now=now, skew=skew)
    reason = ""
    for refresh in (False, True):  # fetched again once: the key may have been rotated
        try:
            actor = await remote_actors.actor_for_key_id(
                db, client, config, key_id, refresh=refresh
            )
            verification.check_signature(request, actor, now=now, skew=skew)
            return actor
        except (remote_actors.RemoteActorError, httpx.HTTPError, signatures.SignatureError) as e:
            reason = str(e)
    raise signed_requests.Refused(401, f"signature not verified: {reason}"[:300])


def find_person(session: Session, config: Config, username: str) -> User | None:
    """The person whose collection is asked for (None when they have no actor here)."""
    if not config.federation.enabled:
        return None
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or not user.federation_enabled or user.is_suspended:
        return None
    return user


def may_read(session: Session, *, user_id: int, reader: RemoteActor) -> bool:
    """True when the reader is one of the person's home actors (an accepted link)."""
    query = select(Follow.id).where(
        Follow.direction == "in",
        Follow.local_kind == "user",
        Follow.local_id == user_id,
        Follow.state == "accepted",
        Follow.remote_actor_id == reader.id,
    )
    return session.exec(query).first() is not None


def _body(row: SentSummary) -> dict[str, Any] | None:
    if row.deleted:
        return summary_erasure.tombstone(row.object_id, row.updated_at)
    try:
        found = json.loads(row.body) if row.body else None
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def collection_document(session: Session, config: Config, user: User) -> dict[str, Any]:
    """Every summary currently stated about the person, as last sent (tombstones included)."""
    query = (
        select(SentSummary)
        .where(SentSummary.user_id == user.id)
        .order_by(col(SentSummary.month), col(SentSummary.association_id))
    )
    items = [found for found in map(_body, session.exec(query)) if found is not None]
    return {
        "@context": vocabulary.summary_context(),
        "id": collection_uri(config, user.username),
        "type": "OrderedCollection",
        "attributedTo": urls.actor_uri(config, "user", user.username),
        "totalItems": len(items),
        "orderedItems": items,
    }
