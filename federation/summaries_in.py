"""Home side of a person's hours: HoursSummary objects other instances send to our people.

A summary is kept only when every check holds: one of our people follows the
activity's actor through an accepted link and is named in the object's "to";
the object is about that actor ("volunteer"), lives on its server and matches
the JSON Schema; it is attributed to an Organization on the same server, whose
Ed25519 key (in assertionMethod, not revoked before it signed) verifies the
proof. Anything else is logged and never stored. One row per summary id: the
newest ``updated`` wins (an older or equal one changes nothing); a Delete
leaves a tombstone, after which that id is ignored for good.

Handlers run in the inbox processor's write transaction; the issuer's actor
document is fetched before (``prefetch``), outside it. Reconciliation
(federation/summary_reconcile.py) applies the same checks to the collection.
"""

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlmodel import Session, col, select

from federation import actor_documents, proofs, remote_actors, urls
from federation.peers import aware
from instance.config import Config
from schema import vocabulary
from schema.tables import Follow, ReceivedSummary, RemoteActor, User
from schema.vocabulary import validation

log = logging.getLogger("benefed.summaries")

ORGANIZATION = "Organization"
VERIFIED = "verified"


class Rejected(Exception):
    """A summary that is not kept, and why."""


def _types(value: Any) -> list[str]:
    found = value.get("type") if isinstance(value, dict) else None
    found = found if isinstance(found, list) else [found]
    return [kind for kind in found if isinstance(kind, str)]


def is_summary(value: Any) -> bool:
    """True for an embedded HoursSummary object."""
    return vocabulary.HOURS_SUMMARY in _types(value)


def is_summary_tombstone(value: Any) -> bool:
    """True for a Tombstone of an HoursSummary."""
    return "Tombstone" in _types(value) and value.get("formerType") == vocabulary.HOURS_SUMMARY


def _id(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


# -- fetching the issuer before the transaction -------------------------------------------


async def prefetch_issuer(
    db: Any, client: httpx.AsyncClient, config: Config, actor_uri: str, obj: Any
) -> None:
    """Fetch (or refresh) the association that signed a summary, when it is on the actor's server."""
    issuer = obj.get("attributedTo") if isinstance(obj, dict) else None
    if not isinstance(issuer, str) or not actor_documents.same_origin(issuer, actor_uri):
        return
    try:
        key_id = proofs.proof_key_id(obj)
    except proofs.ProofError:
        return
    try:
        found = await remote_actors.fetch_actor(db, client, config, issuer)
        if key_id not in actor_documents.ed25519_keys(found):  # a new key: fetch again
            await remote_actors.fetch_actor(db, client, config, issuer, force=True)
    except (remote_actors.RemoteActorError, httpx.HTTPError) as error:
        log.info("fetching the issuer %s failed: %s", issuer, error)


async def prefetch(db: Any, client: httpx.AsyncClient, config: Config, activity: Any) -> None:
    """Before processing a Create/Update of a summary: fetch its issuer (cached a day)."""
    if isinstance(activity, dict) and is_summary(activity.get("object")):
        actor = _id(activity.get("actor"))
        await prefetch_issuer(db, client, config, actor, activity["object"])


# -- checks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """A summary that passed every check: for whom, through which link, signed by whom."""

    user_id: int
    follow_id: int | None
    issuer: RemoteActor
    updated: datetime


def _remote(session: Session, uri: str) -> RemoteActor | None:
    return session.exec(select(RemoteActor).where(RemoteActor.uri == uri)).first()


def linked_users(session: Session, actor: RemoteActor) -> list[tuple[Follow, User]]:
    """Our people whose accepted link follows this remote actor."""
    query = (
        select(Follow, User)
        .join(User, col(User.id) == col(Follow.local_id))
        .where(
            Follow.direction == "out",
            Follow.local_kind == "user",
            Follow.state == "accepted",
            Follow.remote_actor_id == actor.id,
        )
    )
    return [(follow, user) for follow, user in session.exec(query)]


def _addressee(
    session: Session, config: Config, actor: RemoteActor, obj: dict[str, Any]
) -> tuple[Follow, User]:
    linked = linked_users(session, actor)
    if not linked:
        raise Rejected(f"no active link with {actor.uri}")
    named = set(obj.get("to", []))
    for follow, user in linked:
        if urls.actor_uri(config, "user", user.username) in named:
            return follow, user
    raise Rejected("the summary is addressed to someone else")


def _shape(actor_uri: str, obj: Any) -> dict[str, Any]:
    try:
        validation.validate("hours-summary", obj)
    except validation.SchemaError as error:
        raise Rejected(f"not a valid HoursSummary: {error}") from None
    assert isinstance(obj, dict)
    if not actor_documents.same_origin(obj["id"], actor_uri):
        raise Rejected("the summary does not live on its sender's server")
    if obj["volunteer"] != actor_uri:
        raise Rejected("the summary is about someone else than its sender")
    return obj


def _issuer(session: Session, actor_uri: str, obj: dict[str, Any]) -> RemoteActor:
    issuer_uri = obj["attributedTo"]
    if not actor_documents.same_origin(issuer_uri, actor_uri):
        raise Rejected("the association is on another server than the sender")
    issuer = _remote(session, issuer_uri)
    if issuer is None or issuer.is_gone:
        raise Rejected(f"the association {issuer_uri} could not be fetched")
    if issuer.type != ORGANIZATION:
        raise Rejected(f"{issuer_uri} is not an association (Organization)")
    return issuer


def check_proof(issuer: RemoteActor, obj: dict[str, Any]) -> None:
    """The proof verifies with one of the issuer's Ed25519 keys in force when it signed."""
    try:
        key_id = proofs.proof_key_id(obj)
    except proofs.ProofError as error:
        raise Rejected(str(error)) from None
    key = actor_documents.ed25519_keys(issuer).get(key_id)
    if key is None:
        raise Rejected(f"the key {key_id} is not one of {issuer.uri}'s")
    revoked = actor_documents.revoked_keys(issuer).get(key_id)
    if revoked is not None and _time(obj["proof"]["created"]) >= revoked:
        raise Rejected(f"the key {key_id} was revoked before it signed")
    try:
        proofs.verify_object(obj, key)
    except proofs.ProofError as error:
        raise Rejected(f"the proof does not verify: {error}") from None


def _time(value: str) -> datetime:
    return aware(datetime.fromisoformat(value.replace("Z", "+00:00")))


def check_summary(session: Session, config: Config, *, actor_uri: str, obj: Any) -> Checked:
    """Every check of a received summary; Rejected says which one failed."""
    found = _shape(actor_uri, obj)
    actor = _remote(session, actor_uri)
    if actor is None or actor.is_gone:
        raise Rejected(f"unknown sender {actor_uri}")
    follow, user = _addressee(session, config, actor, found)
    issuer = _issuer(session, actor_uri, found)
    check_proof(issuer, found)
    assert user.id is not None
    return Checked(user.id, follow.id, issuer, _time(found["updated"]))


# -- storing --------------------------------------------------------------------------------


def _row(session: Session, object_id: str) -> ReceivedSummary | None:
    return session.exec(
        select(ReceivedSummary).where(ReceivedSummary.object_id == object_id)
    ).first()


def store(session: Session, checked: Checked, obj: dict[str, Any], *, now: datetime) -> str:
    """Keep a checked summary unless we hold a newer one or a tombstone: "stored" or "ignored"."""
    row = _row(session, obj["id"])
    if row is not None and (
        row.deleted or row.user_id != checked.user_id or aware(row.updated) >= checked.updated
    ):
        return "ignored"
    row = row or ReceivedSummary(
        object_id=obj["id"],
        user_id=checked.user_id,
        updated=checked.updated,
        body="",
        issuer_uri="",
        issuer_host="",
        subject_uri="",
        month="",
    )
    row.follow_id = checked.follow_id
    row.issuer_uri, row.issuer_name = checked.issuer.uri, obj["name"][:255]
    row.issuer_host, row.subject_uri = checked.issuer.host, obj["volunteer"]
    row.month, row.minutes, row.actions = obj["month"], obj["minutes"], obj["actions"]
    row.validated_minutes, row.pending_minutes = obj["validatedMinutes"], obj["pendingMinutes"]
    row.valued_amount, row.currency = obj["valuedAmount"] or "", obj["currency"] or ""
    row.categories = json.dumps(obj["minutesByCategory"], ensure_ascii=False)
    row.updated, row.body, row.proof_status = (
        checked.updated,
        json.dumps(obj, ensure_ascii=False),
        VERIFIED,
    )
    row.received_at = now
    session.add(row)
    session.flush()
    return "stored"


def accept_summary(
    session: Session, config: Config, *, actor_uri: str, obj: Any, now: datetime
) -> str:
    """Check and keep one summary: "stored", "ignored" (older, tombstoned) or "rejected"."""
    try:
        checked = check_summary(session, config, actor_uri=actor_uri, obj=obj)
    except Rejected as error:
        log.warning("summary %s from %s rejected: %s", _id(obj)[:200], actor_uri[:200], error)
        return "rejected"
    return store(session, checked, obj, now=now)


def tombstone(session: Session, row: ReceivedSummary, *, now: datetime) -> None:
    """Mark a summary deleted for good: figures zeroed, later versions ignored."""
    row.deleted = True
    row.minutes = row.actions = row.validated_minutes = row.pending_minutes = 0
    row.valued_amount, row.currency, row.categories = "", "", "[]"
    row.body = json.dumps(
        {"id": row.object_id, "type": "Tombstone", "formerType": vocabulary.HOURS_SUMMARY}
    )
    row.proof_status, row.received_at = "deleted", now
    session.add(row)


def delete_summary(session: Session, *, actor_uri: str, object_id: str, now: datetime) -> str:
    """A Delete from the summary's subject: "deleted", or "ignored" (unknown, someone else's)."""
    row = _row(session, object_id)
    if row is None or row.subject_uri != actor_uri or row.deleted:
        return "ignored"
    tombstone(session, row, now=now)
    return "deleted"


# -- inbox handlers -------------------------------------------------------------------------


def on_summary(session: Session, config: Config, activity: dict[str, Any], *, now: datetime) -> str:
    """A Create or Update of an HoursSummary."""
    return accept_summary(
        session, config, actor_uri=_id(activity.get("actor")), obj=activity.get("object"), now=now
    )


def on_delete(session: Session, activity: dict[str, Any], *, now: datetime) -> str:
    """A Delete whose object is a summary (or its Tombstone) by the summary's subject."""
    return delete_summary(
        session,
        actor_uri=_id(activity.get("actor")),
        object_id=_id(activity.get("object")),
        now=now,
    )
