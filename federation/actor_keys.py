"""The key pairs of our actors: created on demand, sealed at rest, rotated, never deleted.

Each actor has one current RSA-2048 key (HTTP signatures) and one current Ed25519
key (object proofs). Private halves are stored sealed with ``config.secret_key``;
public halves are stored as SPKI PEM (RSA) and multibase Multikey (Ed25519).
Key ids follow ``federation.urls.key_uri`` (``#main-key``, ``#ed25519-key``, then
``-2``, ``-3``... after each rotation).
"""

from functools import lru_cache
from urllib.parse import quote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from federation import keys, urls
from instance.config import Config
from schema.tables import ActorKey, Association, User
from schema.tables._base import utcnow

KEY_KINDS = ("rsa", "ed25519")


class UnknownActor(LookupError):
    """No local actor of that kind has that id."""


def actor_ident(session: Session, kind: str, owner_id: int | None) -> str | None:
    """The slug or username of a local actor from its row id (None for the instance)."""
    if kind == "instance":
        return None
    if kind == "association" and owner_id is not None:
        association = session.get(Association, owner_id)
        if association is not None:
            return association.slug
    if kind == "user" and owner_id is not None:
        user = session.get(User, owner_id)
        if user is not None:
            return user.username
    raise UnknownActor(f"no {kind} actor with id {owner_id}")


def _owner_filter(kind: str, owner_id: int | None):  # type: ignore[no-untyped-def]
    owner = col(ActorKey.owner_id).is_(None) if owner_id is None else ActorKey.owner_id == owner_id
    return (ActorKey.owner_kind == kind) & owner


def _owned(
    session: Session, kind: str, owner_id: int | None, rows: list[ActorKey]
) -> list[ActorKey]:
    """The rows that belong to the actor holding this id now.

    SQLite may give a deleted person's (or association's) row id to the next one
    created, while the deleted actor's keys stay (what they signed must still
    verify). A key id names its actor (``<actor>#<fragment>``, and names are
    never reused), so keys naming another actor are not this one's. When the
    owner row is gone, its keys are still found by id: the activities queued
    before the deletion are signed with them.
    """
    if kind == "instance" or owner_id is None:
        return rows
    owner = session.get(Association if kind == "association" else User, owner_id)
    if owner is None:
        return rows
    ident = owner.slug if isinstance(owner, Association) else owner.username
    marker = f"/{quote(ident, safe='')}#"
    return [row for row in rows if marker in row.key_id]


def published_keys(session: Session, kind: str, owner_id: int | None) -> list[ActorKey]:
    """Every key of an actor, current and revoked, oldest first."""
    statement = (
        select(ActorKey)
        .where(_owner_filter(kind, owner_id))
        .order_by(col(ActorKey.created_at), col(ActorKey.id))
    )
    return _owned(session, kind, owner_id, list(session.exec(statement)))


def current_key(
    session: Session, kind: str, owner_id: int | None, key_kind: str
) -> ActorKey | None:
    """The newest unrevoked key of one kind ("rsa" or "ed25519"), if any."""
    statement = (
        select(ActorKey)
        .where(_owner_filter(kind, owner_id))
        .where(ActorKey.kind == key_kind)
        .where(col(ActorKey.revoked_at).is_(None))
        .order_by(col(ActorKey.id).desc())
    )
    found = _owned(session, kind, owner_id, list(session.exec(statement)))
    return found[0] if found else None


def _new_key(
    session: Session, *, config: Config, kind: str, owner_id: int | None, key_kind: str
) -> ActorKey:
    ident = actor_ident(session, kind, owner_id)
    generation = 1 + len(
        [key for key in published_keys(session, kind, owner_id) if key.kind == key_kind]
    )
    if key_kind == "rsa":
        private = keys.generate_rsa()
        public = keys.rsa_public_pem(private.public_key())
    else:
        private = keys.generate_ed25519()
        public = keys.ed25519_multikey(private.public_key())
    return ActorKey(
        owner_kind=kind,
        owner_id=owner_id,
        kind=key_kind,
        key_id=urls.key_uri(config, kind, ident, key_kind, generation),
        public_key=public,
        sealed_private_key=keys.seal_private_key(private, config.secret_key),
    )


def ensure_keys(session: Session, *, config: Config, kind: str, owner_id: int | None) -> None:
    """Create the actor's RSA and Ed25519 keys when it has no current one (idempotent)."""
    for key_kind in KEY_KINDS:
        if current_key(session, kind, owner_id, key_kind) is not None:
            continue
        row = _new_key(session, config=config, kind=kind, owner_id=owner_id, key_kind=key_kind)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            # Another process created the same key id at the same moment: theirs stands.
            continue


@lru_cache(maxsize=256)
def _opened(sealed: str, secret: str):  # type: ignore[no-untyped-def]
    return keys.open_private_key(sealed, secret)


def _signing(
    session: Session, *, config: Config, kind: str, owner_id: int | None, key_kind: str
) -> tuple[str, object]:
    row = current_key(session, kind, owner_id, key_kind)
    if row is None:
        ensure_keys(session, config=config, kind=kind, owner_id=owner_id)
        row = current_key(session, kind, owner_id, key_kind)
    if row is None:
        raise UnknownActor(f"no {key_kind} key for {kind} {owner_id}")
    return row.key_id, _opened(row.sealed_private_key, config.secret_key)


def signing_key(
    session: Session, *, config: Config, kind: str, owner_id: int | None
) -> tuple[str, RSAPrivateKey]:
    """The key id and opened private key of the actor's current RSA key (made if missing)."""
    key_id, private = _signing(session, config=config, kind=kind, owner_id=owner_id, key_kind="rsa")
    if not isinstance(private, RSAPrivateKey):
        raise TypeError(f"{key_id} is not an RSA key")
    return key_id, private


def ed25519_signing_key(
    session: Session, *, config: Config, kind: str, owner_id: int | None
) -> tuple[str, Ed25519PrivateKey]:
    """The key id and opened private key of the actor's current Ed25519 key (made if missing)."""
    key_id, private = _signing(
        session, config=config, kind=kind, owner_id=owner_id, key_kind="ed25519"
    )
    if not isinstance(private, Ed25519PrivateKey):
        raise TypeError(f"{key_id} is not an Ed25519 key")
    return key_id, private


def rotate_keys(session: Session, *, config: Config, kind: str, owner_id: int | None) -> None:
    """Revoke the current keys (they stay published) and create new ones."""
    actor_ident(session, kind, owner_id)
    now = utcnow()
    for row in published_keys(session, kind, owner_id):
        if row.revoked_at is None:
            row.revoked_at = now
            session.add(row)
    session.flush()
    for key_kind in KEY_KINDS:
        session.add(
            _new_key(session, config=config, kind=kind, owner_id=owner_id, key_kind=key_kind)
        )
    session.flush()


def current_key_ids(session: Session, kind: str, owner_id: int | None) -> list[str]:
    """The ids of the actor's unrevoked keys."""
    return [row.key_id for row in published_keys(session, kind, owner_id) if row.revoked_at is None]
