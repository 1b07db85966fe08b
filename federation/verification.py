"""Verifying a signed inbox request: who sent it, and may they send it.

The scheme is RFC 9421 when a Signature-Input header is present, else draft-cavage.
In order: the request is signed; the signed Host is ours; the key and the
activity's actor share an origin (FEP-fe34) and the actor is not one of ours;
neither the key's host nor the actor is blocked (403); the Date / created is
within ``config.federation.signature_skew_seconds`` and the body digest matches
(checked before any key is fetched); the key resolves to a remote actor, whose
key verifies the signature (the actor is fetched again once on failure: key
rotation); that actor is the activity's actor. Any failure is ``Refused`` with
401 (403 when blocked) and a reason; nothing is stored.

Everything up to the signature with the cached key is ``screen_many``: one read
for any number of requests, the key taken from the RemoteActor row (read every
time, so a rotated key is never answered from memory; only the parsing of its
PEM is cached). Fetching happens only when that row is missing, expired or its
key fails.

The request as verification reads it, ``Refused`` and the checks that need no
key (time window, digest) are in federation/signed_requests.py; the block
lookups in federation/blocks.py.
"""

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from federation import actor_documents, blocks, keys, remote_actors, rfc9421, signatures, urls
from federation.signed_requests import IncomingRequest, Refused, precheck
from federation.signed_requests import key_id as key_id_of
from instance.config import Config
from schema.db import Database
from schema.tables import RemoteActor


class Unknown(Refused):
    """A Delete from an actor we never knew and cannot fetch: answered 202, nothing stored."""

    def __init__(self, reason: str) -> None:
        super().__init__(202, reason)


def actor_of(activity: dict[str, Any]) -> str:
    """The activity's actor id (a string, or an embedded actor's id)."""
    actor = activity.get("actor")
    if isinstance(actor, dict):
        actor = actor.get("id")
    return actor if isinstance(actor, str) else ""


def _check_host(request: IncomingRequest, config: Config) -> None:
    sent = request.fields.get("host", "")
    try:
        ours = signatures.authority(config.base_url)
        theirs = signatures.authority(f"{request.scheme}://{sent}") if sent else ""
    except ValueError:
        theirs = ""
    if theirs != ours:
        raise Refused(401, "the request was not addressed to this host")


def _check_origins(config: Config, key_id: str, actor_uri: str, activity_id: str) -> None:
    if not actor_uri:
        raise Refused(401, "the activity has no actor")
    if urls.is_local(config, actor_uri) or urls.is_local(config, key_id):
        raise Refused(401, "the activity claims to come from this instance")
    if not actor_documents.same_origin(key_id, actor_uri):
        raise Refused(401, "the key belongs to another host than the activity's actor")
    if not actor_documents.same_origin(activity_id, actor_uri):
        raise Refused(401, "the activity's id is not on its actor's server")


@lru_cache(maxsize=1024)
def _public_key(pem: str) -> RSAPublicKey:
    # Keyed by the PEM read from the actor's row on every request: a rotated key
    # (a new PEM in the row) can never be answered from this cache.
    return keys.parse_rsa_public_pem(pem)


def check_signature(
    request: IncomingRequest,
    actor: RemoteActor | remote_actors.CachedKey,
    *,
    now: datetime,
    skew: int,
) -> None:
    """Verify the request with the actor's key; SignatureError when it does not hold."""
    try:
        public_key = _public_key(actor.public_key_pem)
    except ValueError as error:
        raise signatures.SignatureError(f"unusable key: {error}") from None
    if request.is_rfc9421:
        rfc9421.verify_request(
            request.method, request.target_uri, request.fields, request.body, public_key, now, skew
        )
    else:
        signatures.verify_request(
            request.method,
            request.path_with_query,
            request.fields,
            request.body,
            public_key,
            now,
            skew,
        )


def _is_self_delete(activity: dict[str, Any], actor_uri: str) -> bool:
    kinds = activity.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    target = activity.get("object")
    target = target.get("id") if isinstance(target, dict) else target
    return "Delete" in kinds and target == actor_uri


# Fetches of a signer in progress, by loop and key id: requests signed with the same
# unknown key that arrive together wait for one fetch instead of fetching it each.
_fetching: (
    "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Task[RemoteActor]]]"
)
_fetching = weakref.WeakKeyDictionary()


async def _signer(
    db: Database, client: httpx.AsyncClient, config: Config, key_id: str, *, refresh: bool
) -> RemoteActor:
    if refresh:
        return await remote_actors.actor_for_key_id(db, client, config, key_id, refresh=True)
    running = _fetching.setdefault(asyncio.get_running_loop(), {})
    task = running.get(key_id)
    if task is None:
        task = asyncio.ensure_future(
            remote_actors.actor_for_key_id(db, client, config, key_id, refresh=False)
        )
        running[key_id] = task
        task.add_done_callback(lambda _done: running.pop(key_id, None))
    return await asyncio.shield(task)


def claimed_sender(
    config: Config, request: IncomingRequest, activity: dict[str, Any]
) -> tuple[str, str]:
    """The key id and the actor the request claims, checked without I/O (Refused 401)."""
    key_id = key_id_of(request)
    actor_uri = actor_of(activity)
    _check_host(request, config)
    activity_id = activity.get("id")
    _check_origins(config, key_id, actor_uri, activity_id if isinstance(activity_id, str) else "")
    return key_id, actor_uri


VERIFIED, NO_KEY, KEY_FAILED = "verified", "no key", "key failed"


@dataclass(frozen=True)
class Screening:
    """One signed request to screen before any fetch: who it claims to be, and when."""

    request: IncomingRequest
    key_id: str
    actor_uri: str
    now: datetime
    skew: int


def screen_many(db: Database, items: list[Screening]) -> list[str | Refused]:
    """Blocks, time and digest, then the cached key, for several requests in one read.

    Blocking (run it in a thread): two queries however many requests. Each gets
    a Refused when blocked (403) or out of time / digest (401); else VERIFIED,
    NO_KEY (fetch the actor) or KEY_FAILED (the cached key does not verify: fetch again).
    """
    claims = [blocks.values_for(item.key_id, item.actor_uri) for item in items]
    domains = set().union(*(domains for domains, _actors in claims))
    actors = set().union(*(actors for _domains, actors in claims))
    latest = max(item.now for item in items)  # a row expiring meanwhile counts as expired
    with db.engine.connect() as connection:  # Core, not the ORM: this runs on every request
        hit_domains, hit_actors = blocks.hits(connection, domains, actors)
        cached = remote_actors.cached_keys(connection, {i.key_id for i in items}, now=latest)
    results: list[str | Refused] = []
    for item, (item_domains, item_actors) in zip(items, claims, strict=True):
        try:
            if hit_domains & item_domains or hit_actors & item_actors:
                raise Refused(403, "this server or account is blocked here")
            precheck(item.request, now=item.now, skew=item.skew)
            results.append(_with_cached_key(item, cached.get(item.key_id)))
        except Refused as refused:
            results.append(refused)
    return results


def _with_cached_key(item: Screening, cached: remote_actors.CachedKey | None) -> str:
    if cached is None:
        return NO_KEY
    try:
        check_signature(item.request, cached, now=item.now, skew=item.skew)
    except signatures.SignatureError:
        return KEY_FAILED
    if cached.actor_uri != item.actor_uri:
        raise Refused(401, "the signer is not the activity's actor")
    return VERIFIED


async def _screen_alone(db: Database, item: Screening) -> str:
    [found] = await asyncio.to_thread(screen_many, db, [item])
    if isinstance(found, Refused):
        raise found
    return found


async def verify(
    db: Database,
    client: httpx.AsyncClient,
    config: Config,
    request: IncomingRequest,
    activity: dict[str, Any],
    *,
    now: datetime,
    screen: Callable[[Screening], Awaitable[str]] | None = None,
) -> str:
    """The id of the verified remote actor who sent this activity; ``Refused`` otherwise.

    ``screen`` runs ``screen_many`` for this request (the inbox batches concurrent
    requests); by default it runs alone in a thread.
    """
    skew = config.federation.signature_skew_seconds
    key_id, actor_uri = claimed_sender(config, request, activity)
    item = Screening(request, key_id, actor_uri, now, skew)
    found = await (screen(item) if screen is not None else _screen_alone(db, item))
    if found == VERIFIED:
        return actor_uri
    if found == KEY_FAILED:
        actor = await _refetched(db, client, config, key_id)
    else:
        try:
            actor = await _signer(db, client, config, key_id, refresh=False)
        except (remote_actors.RemoteActorError, httpx.HTTPError) as error:
            if _is_self_delete(activity, actor_uri):
                raise Unknown("a Delete from an unknown actor") from None
            raise Refused(401, f"cannot get the signing key: {error}") from None
    try:
        check_signature(request, actor, now=now, skew=skew)
    except signatures.SignatureError:
        if found == KEY_FAILED:
            raise Refused(401, "signature not verified with the refreshed key") from None
        actor = await _refetched(db, client, config, key_id)
        try:
            check_signature(request, actor, now=now, skew=skew)
        except signatures.SignatureError as error:
            raise Refused(401, f"signature not verified: {error}") from None
    if actor.uri != actor_uri:
        raise Refused(401, "the signer is not the activity's actor")
    return actor.uri


async def _refetched(
    db: Database, client: httpx.AsyncClient, config: Config, key_id: str
) -> RemoteActor:
    try:
        return await _signer(db, client, config, key_id, refresh=True)
    except (remote_actors.RemoteActorError, httpx.HTTPError) as error:
        raise Refused(401, f"cannot get the signing key: {error}") from None
