"""Actors of other servers: fetched with a signed GET as our instance actor, checked, cached.

A fetched document is accepted only when it is ActivityPub JSON (content type),
carries no JSON-LD restructuring keyword (@graph, @included, @reverse), has
exactly the id we asked for, and shares its origin with the final URL. Actors
are cached for a day in RemoteActor; keys are accepted only when the actor and
the key point at each other. What is read from a document, and kept of it, is
decided by federation/actor_documents.py.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urldefrag

import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from sqlalchemy import Connection, Select, bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from federation import actor_keys, keys, urls, webfinger
from federation.actor_documents import (
    DocumentError,
    actor_fields,
    actor_type,
    check_keywords,
    same_origin,
)
from federation.handles import Handle, HandleError, parse_lookup
from federation.safe_http import is_activitypub_type, signed_get
from instance.config import Config
from schema.db import Database
from schema.tables import RemoteActor
from schema.tables._base import utcnow

CACHE_TTL = timedelta(days=1)


class RemoteActorError(Exception):
    """A remote actor or key could not be fetched, or was not acceptable."""


class RemoteActorGone(RemoteActorError):
    """The remote server says the actor is gone (410)."""


def instance_signing_key(db: Database, config: Config) -> tuple[str, RSAPrivateKey]:
    """Our instance actor's key id and RSA key (created on first use)."""
    with db.read() as session:
        if actor_keys.current_key(session, "instance", None, "rsa") is not None:
            return actor_keys.signing_key(session, config=config, kind="instance", owner_id=None)
    with db.write() as session:
        return actor_keys.signing_key(session, config=config, kind="instance", owner_id=None)


async def fetch_object(
    db: Database, client: httpx.AsyncClient, config: Config, uri: str
) -> dict[str, Any]:
    """Fetch an ActivityPub document by id with a signed GET and check it (RemoteActorError)."""
    key_id, private_key = instance_signing_key(db, config)
    try:
        response = await signed_get(client, uri, key_id=key_id, private_key=private_key)
    except httpx.HTTPError as error:
        raise RemoteActorError(f"fetching {uri} failed: {error}") from error
    if response.status_code == 410:
        raise RemoteActorGone(f"{uri} is gone")
    if response.status_code != 200:
        raise RemoteActorError(f"fetching {uri} answered {response.status_code}")
    if not is_activitypub_type(response.headers.get("content-type", "")):
        raise RemoteActorError(f"{uri} is not ActivityPub JSON")
    try:
        document = json.loads(response.content)
    except (ValueError, RecursionError):
        raise RemoteActorError(f"{uri} is not valid JSON") from None
    if not isinstance(document, dict):
        raise RemoteActorError(f"{uri} is not a JSON object")
    try:
        check_keywords(document)
    except DocumentError as error:
        raise RemoteActorError(str(error)) from None
    if document.get("id") != uri:
        raise RemoteActorError(f"{uri} answered a document with another id")
    if not same_origin(uri, str(response.url)):
        raise RemoteActorError(f"{uri} was served from another origin")
    return document


def _fields(uri: str, document: dict[str, Any]) -> dict[str, Any]:
    """The RemoteActor columns of a fetched document (RemoteActorError if not an actor)."""
    try:
        return actor_fields(uri, document)
    except DocumentError as error:
        raise RemoteActorError(str(error)) from None


def _store(db: Database, fields: dict[str, Any], *, now: datetime) -> RemoteActor:
    for _attempt in range(2):
        try:
            with db.write() as session:
                row = session.exec(
                    select(RemoteActor).where(RemoteActor.uri == fields["uri"])
                ).first()
                row = row or RemoteActor(uri=fields["uri"], host=fields["host"])
                for name, value in fields.items():
                    setattr(row, name, value)
                row.fetched_at, row.expires_at, row.is_gone = now, now + CACHE_TTL, False
                session.add(row)
                session.flush()
                return row
        except IntegrityError:
            continue
    raise RemoteActorError(f"could not store {fields['uri']}")


def _mark_gone(db: Database, uri: str) -> None:
    with db.write() as session:
        row = session.exec(select(RemoteActor).where(RemoteActor.uri == uri)).first()
        if row is not None:
            row.is_gone = True
            session.add(row)


def _cached(db: Database, uri: str, now: datetime) -> RemoteActor | None:
    with db.read() as session:
        row = session.exec(select(RemoteActor).where(RemoteActor.uri == uri)).first()
    if row is None or row.is_gone or _aware(row.expires_at) <= now:
        return None
    return row


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=utcnow().tzinfo)


async def fetch_actor(
    db: Database, client: httpx.AsyncClient, config: Config, uri: str, *, force: bool = False
) -> RemoteActor:
    """A remote actor, from the cache (a day) or fetched and checked; RemoteActorError."""
    uri = urldefrag(uri).url if isinstance(uri, str) else ""
    if not uri or urls.is_local(config, uri):
        raise RemoteActorError("not a remote actor URL")
    now = utcnow()
    if not force:
        cached = _cached(db, uri, now)
        if cached is not None:
            return cached
    try:
        document = await fetch_object(db, client, config, uri)
    except RemoteActorGone:
        _mark_gone(db, uri)
        raise
    return _store(db, _fields(uri, document), now=now)


async def actor_for_key_id(
    db: Database, client: httpx.AsyncClient, config: Config, key_id: str, *, refresh: bool = False
) -> RemoteActor:
    """The actor owning an RSA key id (with or without fragment, or a stand-alone Key document).

    The actor's publicKey must name this key id and, for a Key document, the key's
    owner must be that actor (both directions). ``refresh`` fetches again (rotation).
    """
    if not isinstance(key_id, str) or not key_id.startswith(("http://", "https://")):
        raise RemoteActorError("key id is not an http(s) URL")
    if not refresh:
        with db.read() as session:
            found = cached_key(session, key_id, now=utcnow())
            row = session.get(RemoteActor, found.actor_id) if found is not None else None
        if row is not None:
            return row
    url, fragment = urldefrag(key_id)
    if fragment:
        actor = await fetch_actor(db, client, config, url, force=refresh)
        return _require_key(actor, key_id)
    return await _actor_from_key_document(db, client, config, key_id, refresh=refresh)


@dataclass(frozen=True)
class CachedKey:
    """A remote actor's RSA key as cached in its RemoteActor row (not expired, not gone)."""

    actor_id: int
    actor_uri: str
    key_id: str
    public_key_pem: str
    fetched_at: datetime


@lru_cache(maxsize=64)
def _cached_key_query(count: int) -> Select[Any]:
    # One statement per number of key ids, with plain parameters (compiled once).
    return (
        select(
            RemoteActor.public_key_id,
            RemoteActor.id,
            RemoteActor.uri,
            RemoteActor.public_key_pem,
            RemoteActor.fetched_at,
            RemoteActor.expires_at,
            RemoteActor.is_gone,
        )
        .where(col(RemoteActor.public_key_id).in_([bindparam(f"k{n}") for n in range(count)]))
        .order_by(col(RemoteActor.id))
    )


def cached_keys(
    connection: Connection | Session, key_ids: set[str], *, now: datetime
) -> dict[str, CachedKey]:
    """The keys of these ids from the cached actor rows (one indexed read); absent: fetch them.

    A row that expired, is gone or holds no key does not count. The row is read
    every time, so a rotated key (a new PEM in the row) is seen at once.
    """
    if not key_ids:
        return {}
    params = {f"k{n}": key_id for n, key_id in enumerate(sorted(key_ids))}
    first: dict[str, Any] = {}
    for row in connection.execute(_cached_key_query(len(params)), params):
        first.setdefault(row[0], row)  # the oldest row naming the key, as before
    found: dict[str, CachedKey] = {}
    for key_id, actor_id, uri, pem, fetched_at, expires_at, is_gone in first.values():
        if not is_gone and pem and _aware(expires_at) > now and actor_id is not None:
            found[key_id] = CachedKey(actor_id, uri, key_id, pem, _aware(fetched_at))
    return found


def cached_key(connection: Connection | Session, key_id: str, *, now: datetime) -> CachedKey | None:
    """The key of this id from the cached actor row (one indexed read); None to fetch it."""
    return cached_keys(connection, {key_id}, now=now).get(key_id)


def _require_key(actor: RemoteActor, key_id: str) -> RemoteActor:
    if actor.public_key_id != key_id or not actor.public_key_pem:
        raise RemoteActorError(f"{actor.uri} does not publish the key {key_id}")
    return actor


async def _actor_from_key_document(
    db: Database, client: httpx.AsyncClient, config: Config, key_id: str, *, refresh: bool
) -> RemoteActor:
    document = await fetch_object(db, client, config, key_id)
    if actor_type(document):
        return _require_key(_store(db, _fields(key_id, document), now=utcnow()), key_id)
    owner, pem = document.get("owner") or document.get("controller"), document.get("publicKeyPem")
    if not isinstance(owner, str) or not isinstance(pem, str) or not same_origin(owner, key_id):
        raise RemoteActorError(f"{key_id} is neither an actor nor a key with an owner")
    try:
        keys.parse_rsa_public_pem(pem)
    except ValueError as error:
        raise RemoteActorError(f"{key_id}: {error}") from None
    actor = await fetch_actor(db, client, config, owner, force=refresh)
    if actor.public_key_id != key_id:
        raise RemoteActorError(f"{owner} does not name {key_id} as its key")
    if actor.public_key_pem and actor.public_key_pem.strip() != pem.strip():
        raise RemoteActorError(f"{key_id} differs from the key its owner publishes")
    if not actor.public_key_pem:
        with db.write() as session:
            row = session.get(RemoteActor, actor.id)
            if row is None:
                raise RemoteActorError(f"{owner} vanished")
            row.public_key_pem = pem
            session.add(row)
            actor = row
    return actor


async def resolve_handle(
    db: Database, client: httpx.AsyncClient, config: Config, handle: str
) -> RemoteActor:
    """The remote actor named by name@host, @name@host, acct:name@host or an actor URL."""
    try:
        parsed = parse_lookup(handle)
    except HandleError as error:
        raise RemoteActorError(f"not a handle: {error}") from None
    if isinstance(parsed, str):
        return await fetch_actor(db, client, config, parsed)
    if parsed.host == config.domain.lower():
        raise RemoteActorError("that handle is on this instance")
    try:
        uri = await webfinger.lookup(client, config, parsed)
    except webfinger.WebFingerError as error:
        raise RemoteActorError(str(error)) from None
    actor = await fetch_actor(db, client, config, uri)
    await _check_reverse(client, config, parsed, actor)
    return actor


async def _check_reverse(
    client: httpx.AsyncClient, config: Config, handle: Handle, actor: RemoteActor
) -> None:
    """When the actor lives on another host than the handle, its own host must agree."""
    if actor.host == handle.host:
        return
    if not actor.preferred_username:
        raise RemoteActorError(f"{actor.uri} has no preferredUsername")
    reverse = Handle(name=actor.preferred_username, host=actor.host)
    try:
        again = await webfinger.lookup(client, config, reverse)
    except webfinger.WebFingerError as error:
        raise RemoteActorError(f"{actor.host} does not confirm {handle}: {error}") from None
    if again != actor.uri:
        raise RemoteActorError(f"{handle} and {actor.uri} do not confirm each other")
