"""Reading actor documents: what of another server's JSON we accept and keep.

Pure functions, no network and no database: refuse JSON-LD restructuring
keywords and documents nested too deep, take the RemoteActor columns out of a
fetched actor document (keys only when the actor and the key point at each
other, URLs only on the actor's own origin), and read back the checked copy
kept in ``RemoteActor.document`` (Ed25519 keys, revocations, network terms).
Fetching and caching are in federation/remote_actors.py.
"""

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from federation import keys
from federation.safe_http import host_of
from schema.tables import RemoteActor

ACTOR_TYPES = frozenset({"Person", "Group", "Organization", "Application", "Service"})
FORBIDDEN_KEYWORDS = frozenset({"@graph", "@included", "@reverse"})
MAX_DEPTH = 32
MAX_TEXT = 255
MAX_REFERENCE_CATEGORIES = 200


class DocumentError(Exception):
    """A document is not acceptable: restructuring keyword, too deep, or not an actor."""


def same_origin(first: str, second: str) -> bool:
    """True when two URLs share scheme, host and port."""
    a, b = urlsplit(first), urlsplit(second)
    return (a.scheme.lower(), a.netloc.lower()) == (b.scheme.lower(), b.netloc.lower())


def check_keywords(value: Any, depth: int = 0) -> None:
    """Refuse JSON-LD restructuring keywords anywhere, and documents nested too deep."""
    if depth > MAX_DEPTH:
        raise DocumentError("document nested too deep")
    if isinstance(value, dict):
        bad = FORBIDDEN_KEYWORDS.intersection(value)
        if bad:
            raise DocumentError(f"document uses {sorted(bad)[0]}")
        for item in value.values():
            check_keywords(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_keywords(item, depth + 1)


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _url_on(origin: str, value: Any) -> str:
    """value when it is an http(s) URL of the same origin, else ""."""
    if isinstance(value, str) and len(value) <= 2048 and same_origin(origin, value):
        return value
    return ""


def actor_type(document: dict[str, Any]) -> str:
    """The document's first actor type (Person, Group...), or "" when it is not an actor."""
    found = document.get("type")
    types = found if isinstance(found, list) else [found]
    for kind in types:
        if kind in ACTOR_TYPES:
            return str(kind)
    return ""


def parse_public_key(uri: str, value: Any) -> dict[str, str]:
    """The actor's RSA publicKey {id, owner, publicKeyPem} (owner must be the actor), or {}."""
    candidates = value if isinstance(value, list) else [value]
    for candidate in candidates:
        if isinstance(candidate, str) and same_origin(uri, candidate):
            return {"id": candidate, "owner": uri, "publicKeyPem": ""}
        if not isinstance(candidate, dict):
            continue
        key_id, owner, pem = (
            candidate.get("id"),
            candidate.get("owner"),
            candidate.get("publicKeyPem"),
        )
        if not isinstance(key_id, str) or owner != uri or not same_origin(uri, key_id):
            continue
        if not isinstance(pem, str):
            return {"id": key_id, "owner": uri, "publicKeyPem": ""}
        try:
            keys.parse_rsa_public_pem(pem)
        except ValueError:
            continue
        return {"id": key_id, "owner": uri, "publicKeyPem": pem}
    return {}


def parse_assertion_methods(uri: str, value: Any) -> list[dict[str, str]]:
    """The actor's Ed25519 Multikeys (controller = the actor, same origin); others ignored."""
    found: list[dict[str, str]] = []
    for method in value if isinstance(value, list) else [value]:
        if not isinstance(method, dict) or method.get("type") != "Multikey":
            continue
        key_id, multibase = method.get("id"), method.get("publicKeyMultibase")
        if not isinstance(key_id, str) or not same_origin(uri, key_id):
            continue
        if method.get("controller") != uri or not isinstance(multibase, str):
            continue
        try:
            keys.parse_ed25519_multikey(multibase)
        except ValueError:
            continue
        entry = {
            "id": key_id,
            "type": "Multikey",
            "controller": uri,
            "publicKeyMultibase": multibase,
        }
        for extra in ("revoked", "expires"):
            if isinstance(method.get(extra), str):
                entry[extra] = method[extra][:64]
        found.append(entry)
    return found


def network_fields(document: dict[str, Any]) -> dict[str, Any]:
    """What a network publishes (isNetwork, threshold, referenceCategories), kept as sent.

    federation/network_terms.py reads and checks them from the stored copy.
    """
    if document.get("isNetwork") is not True:
        return {}
    kept: dict[str, Any] = {"isNetwork": True, "threshold": document.get("threshold")}
    listed = document.get("referenceCategories")
    items = listed.get("items") if isinstance(listed, dict) else None
    if isinstance(items, list):
        kept["referenceCategories"] = {
            "type": "ReferenceCategories",
            "items": items[:MAX_REFERENCE_CATEGORIES],
        }
    return kept


def actor_fields(uri: str, document: dict[str, Any]) -> dict[str, Any]:
    """The RemoteActor columns of a checked actor document (DocumentError if not an actor)."""
    kind = actor_type(document)
    if not kind:
        raise DocumentError(f"{uri} is not an actor")
    inbox = _url_on(uri, document.get("inbox"))
    if not inbox:
        raise DocumentError(f"{uri} has no inbox on its own server")
    endpoints = document.get("endpoints")
    shared = _url_on(uri, endpoints.get("sharedInbox")) if isinstance(endpoints, dict) else ""
    public_key = parse_public_key(uri, document.get("publicKey"))
    stored = {
        "id": uri,
        "type": kind,
        "preferredUsername": _text(document.get("preferredUsername")),
        "name": _text(document.get("name")),
        "inbox": inbox,
        "outbox": _url_on(uri, document.get("outbox")),
        "followers": _url_on(uri, document.get("followers")),
        "url": _text(document.get("url"), 2048),
        "manuallyApprovesFollowers": document.get("manuallyApprovesFollowers") is True,
        "endpoints": {"sharedInbox": shared} if shared else {},
        "publicKey": public_key,
        "assertionMethod": parse_assertion_methods(uri, document.get("assertionMethod")),
    }
    stored.update(network_fields(document))
    return {
        "uri": uri,
        "host": host_of(uri),
        "type": kind,
        "preferred_username": stored["preferredUsername"],
        "name": stored["name"],
        "inbox": inbox,
        "shared_inbox": shared,
        "public_key_id": public_key.get("id", ""),
        "public_key_pem": public_key.get("publicKeyPem", ""),
        "document": json.dumps(stored, separators=(",", ":")),
    }


def stored_document(remote_actor: RemoteActor) -> dict[str, Any]:
    """The checked subset of the actor document kept in RemoteActor.document."""
    try:
        found = json.loads(remote_actor.document or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def ed25519_keys(remote_actor: RemoteActor) -> dict[str, Ed25519PublicKey]:
    """Every Ed25519 key of the actor by key id, revoked ones included (see revoked_keys)."""
    found: dict[str, Ed25519PublicKey] = {}
    for method in stored_document(remote_actor).get("assertionMethod", []):
        try:
            found[method["id"]] = keys.parse_ed25519_multikey(method["publicKeyMultibase"])
        except (KeyError, TypeError, ValueError):
            continue
    return found


def revoked_keys(remote_actor: RemoteActor) -> dict[str, datetime]:
    """The revocation date of each revoked Ed25519 key of the actor."""
    found: dict[str, datetime] = {}
    for method in stored_document(remote_actor).get("assertionMethod", []):
        try:
            moment = datetime.fromisoformat(str(method["revoked"]).replace("Z", "+00:00"))
        except (KeyError, TypeError, ValueError):
            continue
        found[method["id"]] = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return found
