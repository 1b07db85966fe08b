"""ActivityPub documents of our actors, notes and collections (plain dicts, ready for JSON).

Who has an actor: the instance always; an association unless it is hidden (a
suspended or archived one answers 410 with a Tombstone); a person only once
they turned federation on. ``find_local_actor`` applies these rules for every
route (WebFinger, actor documents, collections).
"""

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from federation import urls
from federation.actor_keys import published_keys
from instance import networks
from instance.config import Config
from instance.errors import NotFound
from schema.tables import ActorKey, Association, Follow, Handle, PublicNote, User

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
AS2_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
DATA_INTEGRITY_CONTEXT = "https://w3id.org/security/data-integrity/v1"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
BENEFED_NS = "https://w3id.org/benefed/ns#"
FEP_844E_IMPLEMENTS = "https://w3id.org/fep/844e#implements"
INLINE_TERMS: dict[str, Any] = {
    "benefed": BENEFED_NS,
    "toot": "http://joinmastodon.org/ns#",
    "discoverable": "toot:discoverable",
    "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
    "isNetwork": "benefed:isNetwork",
    "threshold": "benefed:threshold",
    "referenceCategories": "benefed:referenceCategories",
    "ReferenceCategories": "benefed:ReferenceCategories",
    "key": "benefed:key",
    "implements": {"@id": FEP_844E_IMPLEMENTS, "@container": "@set"},
}
CONTEXT: list[Any] = [
    AS2_CONTEXT,
    SECURITY_CONTEXT,
    DATA_INTEGRITY_CONTEXT,
    MULTIKEY_CONTEXT,
    INLINE_TERMS,
]
IMPLEMENTS = [
    {
        "href": "https://datatracker.ietf.org/doc/html/rfc9421",
        "name": "RFC-9421: HTTP Message Signatures",
    },
    {
        "href": "https://datatracker.ietf.org/doc/html/draft-cavage-http-signatures-12",
        "name": "HTTP Signatures (draft-cavage-12)",
    },
    {"href": "https://w3id.org/fep/8b32", "name": "FEP-8b32: Object Integrity Proofs"},
    {"href": "https://w3id.org/fep/521a", "name": "FEP-521a: Representing actor's public keys"},
    {"href": "https://w3id.org/fep/2677", "name": "FEP-2677: Identifying the Application Actor"},
    {"href": "https://w3id.org/fep/d556", "name": "FEP-d556: Server-Level Actor Discovery"},
    {"href": BENEFED_NS.rstrip("#"), "name": "Benefed volunteer-hours vocabulary"},
]


class ActorGone(Exception):
    """The actor existed but is gone for now (a suspended or archived association)."""

    def __init__(self, uri: str, former_type: str, deleted: datetime) -> None:
        super().__init__(uri)
        self.uri = uri
        self.former_type = former_type
        self.deleted = deleted


@dataclass(frozen=True)
class LocalActor:
    """One of our actors, found by kind and name."""

    kind: str
    ident: str | None
    owner_id: int | None
    association: Association | None = None
    user: User | None = None


def iso(moment: datetime) -> str:
    """A UTC timestamp as ISO 8601 with a Z, to the second."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def find_local_actor(session: Session, config: Config, kind: str, ident: str | None) -> LocalActor:
    """Our actor of that kind and name; NotFound when it has none, ActorGone when gone."""
    if not config.federation.enabled:
        raise NotFound("Federation is off.")
    if kind == "instance":
        return LocalActor("instance", None, None)
    if kind == "association" and ident:
        association = session.exec(select(Association).where(Association.slug == ident)).first()
        if association is None or association.is_hidden:
            raise NotFound("No such actor.")
        if association.is_suspended or association.is_archived:
            uri = urls.actor_uri(config, "association", association.slug)
            raise ActorGone(uri, "Organization", association.updated_at)
        return LocalActor("association", association.slug, association.id, association=association)
    if kind == "user" and ident:
        user = session.exec(select(User).where(User.username == ident)).first()
        if user is None:
            _raise_if_deleted_person(session, config, ident)
        if user is None or not user.federation_enabled or user.is_suspended:
            raise NotFound("No such actor.")
        return LocalActor("user", user.username, user.id, user=user)
    raise NotFound("No such actor.")


def _raise_if_deleted_person(session: Session, config: Config, username: str) -> None:
    """ActorGone when the name belonged to a deleted account that had an actor (keys kept).

    The name stays taken (``Handle``) and the keys are never deleted, so what the
    actor signed before its account went (the Deletes of its summaries) can
    still be told apart from a name that never had an actor (404). The account's
    Ed25519 key is revoked when it is deleted: that moment is the Tombstone's.
    """
    handle = session.get(Handle, username)
    if handle is None or handle.kind != "user":
        return
    first_key = urls.key_uri(config, "user", username, "rsa", 1)  # its first key, by its id
    first = session.exec(select(ActorKey).where(ActorKey.key_id == first_key)).first()
    if first is None:
        return
    uri = urls.actor_uri(config, "user", username)
    keys = [
        key
        for key in published_keys(session, "user", first.owner_id)
        if key.key_id.startswith(f"{uri}#")
    ]
    raise ActorGone(uri, "Person", max(key.revoked_at or key.created_at for key in keys))


def key_documents(session: Session, actor: LocalActor, uri: str) -> dict[str, Any]:
    """publicKey (the current RSA key) and assertionMethod (every Ed25519 key, revoked too)."""
    rows = published_keys(session, actor.kind, actor.owner_id)
    current_rsa = [row for row in rows if row.kind == "rsa" and row.revoked_at is None]
    found: dict[str, Any] = {}
    if current_rsa:
        rsa = current_rsa[-1]
        found["publicKey"] = {"id": rsa.key_id, "owner": uri, "publicKeyPem": rsa.public_key}
    methods = []
    for row in rows:
        if row.kind != "ed25519":
            continue
        method = {
            "id": row.key_id,
            "type": "Multikey",
            "controller": uri,
            "publicKeyMultibase": row.public_key,
        }
        if row.revoked_at is not None:
            method["revoked"] = iso(row.revoked_at)
        methods.append(method)
    found["assertionMethod"] = methods
    return found


def _common(session: Session, config: Config, actor: LocalActor) -> dict[str, Any]:
    uri = urls.actor_uri(config, actor.kind, actor.ident)
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "id": uri,
        "inbox": urls.inbox_uri(config, actor.kind, actor.ident),
        "outbox": urls.outbox_uri(config, actor.kind, actor.ident),
        "followers": urls.followers_uri(config, actor.kind, actor.ident),
        "following": urls.following_uri(config, actor.kind, actor.ident),
        "endpoints": {"sharedInbox": urls.shared_inbox_uri(config)},
    }
    document.update(key_documents(session, actor, uri))
    return document


def actor_document(
    session: Session, config: Config, kind: str, ident: str | None
) -> dict[str, Any]:
    """The ActivityPub document of one of our actors (NotFound / ActorGone as in find_local_actor)."""
    actor = find_local_actor(session, config, kind, ident)
    document = _common(session, config, actor)
    base = urls.base_url(config)
    if actor.kind == "instance":
        document.update(
            {
                "type": "Application",
                "preferredUsername": config.domain,
                "name": config.site_name,
                "url": f"{base}/",
                "manuallyApprovesFollowers": True,
                "discoverable": False,
                "implements": IMPLEMENTS,
            }
        )
    elif actor.association is not None:
        document.update(_association_part(session, config, actor.association))
    elif actor.user is not None:
        document.update(_person_part(actor.user))
    return _ordered(document)


def _association_part(session: Session, config: Config, association: Association) -> dict[str, Any]:
    base = urls.base_url(config)
    part: dict[str, Any] = {
        "type": "Organization",
        "preferredUsername": association.slug,
        "name": association.name,
        "url": f"{base}/associations/{association.slug}",
        "manuallyApprovesFollowers": association.approve_follows,
        "discoverable": True,
        "published": iso(association.created_at),
        "isNetwork": association.is_network,
    }
    if association.description:
        part["summary"] = _paragraphs(association.description)
    if association.logo:
        part["icon"] = {"type": "Image", "url": f"{base}/media/logos/{association.logo}"}
    if association.is_network:
        part.update(_network_part(session, association))
    return part


def _network_part(session: Session, network: Association) -> dict[str, Any]:
    """What a network publishes for its members: threshold and reference categories."""
    categories = networks.list_categories(session, network=network)
    return {
        "threshold": networks.profile_of(session, network).threshold,
        "referenceCategories": {
            "type": "ReferenceCategories",
            "items": [{"key": c.key, "name": c.label} for c in categories],
        },
    }


def _person_part(user: User) -> dict[str, Any]:
    part: dict[str, Any] = {
        "type": "Person",
        "preferredUsername": user.username,
        "manuallyApprovesFollowers": True,
        "discoverable": False,
    }
    if user.display_name:
        part["name"] = user.display_name
    return part


_FIRST = ("@context", "id", "type", "preferredUsername", "name")


def _ordered(document: dict[str, Any]) -> dict[str, Any]:
    head = {key: document[key] for key in _FIRST if key in document}
    return {**head, **{k: v for k, v in document.items() if k not in head}}


def _paragraphs(text: str) -> str:
    """Plain text as escaped HTML paragraphs (line breaks kept)."""
    blocks = [block.strip() for block in text.replace("\r\n", "\n").split("\n\n")]
    return "".join(
        "<p>" + html.escape(block).replace("\n", "<br>") + "</p>" for block in blocks if block
    )


def note_document(config: Config, association: Association, note: PublicNote) -> dict[str, Any]:
    """A public note of an association, as a Note to the public and its followers."""
    actor = urls.actor_uri(config, "association", association.slug)
    assert note.id is not None
    uri = urls.note_uri(config, association.slug, note.id)
    return {
        "@context": [AS2_CONTEXT],
        "id": uri,
        "type": "Note",
        "attributedTo": actor,
        "content": _paragraphs(note.content),
        "published": iso(note.published_at),
        "url": f"{urls.base_url(config)}/associations/{association.slug}",
        "to": [PUBLIC],
        "cc": [urls.followers_uri(config, "association", association.slug)],
    }


def note_create_activity(
    config: Config, association: Association, note: PublicNote
) -> dict[str, Any]:
    """The Create{Note} of a public note, with a stable id (``<note>/activity``)."""
    note_doc = note_document(config, association, note)
    context = note_doc.pop("@context")
    return {
        "@context": context,
        "id": f"{note_doc['id']}/activity",
        "type": "Create",
        "actor": note_doc["attributedTo"],
        "published": note_doc["published"],
        "to": note_doc["to"],
        "cc": note_doc["cc"],
        "object": note_doc,
    }


def collection_document(
    uri: str, total: int, items: list[Any] | None = None, *, first: str | None = None
) -> dict[str, Any]:
    """An OrderedCollection; with items None only its total (followers, following)."""
    document: dict[str, Any] = {
        "@context": AS2_CONTEXT,
        "id": uri,
        "type": "OrderedCollection",
        "totalItems": total,
    }
    if first is not None:
        document["first"] = first
    if items is not None:
        document["orderedItems"] = items
    return document


def collection_page(
    uri: str, part_of: str, items: list[Any], *, next_page: str | None
) -> dict[str, Any]:
    """One page of an OrderedCollection."""
    page: dict[str, Any] = {
        "@context": AS2_CONTEXT,
        "id": uri,
        "type": "OrderedCollectionPage",
        "partOf": part_of,
        "orderedItems": items,
    }
    if next_page is not None:
        page["next"] = next_page
    return page


def tombstone_document(gone: ActorGone) -> dict[str, Any]:
    """The Tombstone answered (410) for a gone actor."""
    return {
        "@context": AS2_CONTEXT,
        "id": gone.uri,
        "type": "Tombstone",
        "formerType": gone.former_type,
        "deleted": iso(gone.deleted),
    }


OUTBOX_PAGE_SIZE = 20


def follow_count(session: Session, actor: LocalActor, direction: str) -> int:
    """Accepted follows of one of our actors: "in" (followers) or "out" (following)."""
    owner = (
        col(Follow.local_id).is_(None)
        if actor.owner_id is None
        else Follow.local_id == actor.owner_id
    )
    statement = (
        select(func.count())
        .select_from(Follow)
        .where(
            Follow.direction == direction,
            Follow.local_kind == actor.kind,
            Follow.state == "accepted",
        )
        .where(owner)
    )
    return int(session.exec(statement).one())


def outbox_document(
    session: Session, config: Config, actor: LocalActor, page: int | None
) -> dict[str, Any]:
    """The outbox: public Create{Note} of an association, newest first, paged by number."""
    uri = urls.outbox_uri(config, actor.kind, actor.ident)
    association = actor.association
    if association is None:
        return collection_document(uri, 0, [])
    total = int(
        session.exec(
            select(func.count())
            .select_from(PublicNote)
            .where(PublicNote.association_id == association.id)
        ).one()
    )
    if page is None:
        return collection_document(uri, total, first=f"{uri}?page=1")
    notes = session.exec(
        select(PublicNote)
        .where(PublicNote.association_id == association.id)
        .order_by(col(PublicNote.published_at).desc(), col(PublicNote.id).desc())
        .offset((page - 1) * OUTBOX_PAGE_SIZE)
        .limit(OUTBOX_PAGE_SIZE)
    ).all()
    items = [note_create_activity(config, association, note) for note in notes]
    for item in items:
        item.pop("@context", None)
    more = page * OUTBOX_PAGE_SIZE < total
    return collection_page(
        f"{uri}?page={page}", uri, items, next_page=f"{uri}?page={page + 1}" if more else None
    )


def find_note(session: Session, association: Association, note_id: int) -> PublicNote:
    """One public note of an association; NotFound otherwise."""
    note = session.get(PublicNote, note_id)
    if note is None or note.association_id != association.id:
        raise NotFound("No such note.")
    return note
