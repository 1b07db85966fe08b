"""Network side: the NetworkReport objects our networks' members send (Create, Update, Delete).

A report is considered only when it comes from an ACTIVE member of the network
it names: the activity's actor is the member's actor, the object is attributed
to it, lives on its server, names one of our networks as ``network`` and in
``to``, and matches the JSON Schema. Anything else is logged and nothing is
stored. Then the proof is checked: the verificationMethod must be an Ed25519
key of that same actor (not revoked before it signed) and verify the object.
A report that fails is still kept, with ``proof_status`` saying why: it never
enters the sums and the dashboard flags the member.

One row per report id: the newest ``updated`` wins; an equal or older one
(a replay) changes nothing. A failing report cannot push its own ``updated``
into the future: it is kept at the time it was received at the latest, so the
member's next genuine report replaces it. A Delete from the report's issuer
marks it deleted. Every write goes through instance.network_reports.save_report.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import Session, col, select

from federation import actor_documents, proofs, summaries_in, urls
from federation.peers import aware
from instance.config import Config
from instance.network_reports import VERIFIED, network_keys, reports_written, save_report
from schema import vocabulary
from schema.tables import Association, NetworkMember, ReceivedReport, RemoteActor
from schema.vocabulary import validation

log = logging.getLogger("benefed.reports")

REASON_MAX = 200


class Ignored(Exception):
    """A report that is not for us to keep (not a member's, not addressed to the network...)."""


def _types(value: Any) -> list[str]:
    found = value.get("type") if isinstance(value, dict) else None
    found = found if isinstance(found, list) else [found]
    return [kind for kind in found if isinstance(kind, str)]


def is_report(value: Any) -> bool:
    """True for an embedded NetworkReport object."""
    return vocabulary.NETWORK_REPORT in _types(value)


def _id(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def proof_key(obj: Any) -> str:
    """The key id the report's proof names ("" when it names none)."""
    try:
        return proofs.proof_key_id(obj) if isinstance(obj, dict) else ""
    except proofs.ProofError:
        return ""


async def prefetch(db: Any, client: httpx.AsyncClient, config: Config, activity: Any) -> None:
    """Before processing a Create/Update of a report: refresh the sender when its key is new."""
    if isinstance(activity, dict) and is_report(activity.get("object")):
        actor = _id(activity.get("actor"))
        await summaries_in.prefetch_issuer(db, client, config, actor, activity["object"])


# -- checks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """A report from an active member of one of our networks, and how its proof fared."""

    network: Association
    member: NetworkMember
    obj: dict[str, Any]
    updated: datetime
    proof_status: str


@dataclass(frozen=True)
class SenderKeys:
    """A sender's stored actor row and its parsed Ed25519 keys (parsed once per transaction)."""

    actor: RemoteActor | None
    keys: dict[str, Ed25519PublicKey]
    revoked: dict[str, datetime]


@dataclass
class Lookups:
    """What the reports handled in one transaction share, read once in it.

    Networks, members, senders' keys and each network's reference keys do not
    change while reports are being stored (no report handler writes them), so
    the worker handling a batch of reports in one transaction reads each once.
    The sums the reports enter are rebuilt, and the months each network must
    forward noted, together at the end (``finish``), in the same transaction.
    """

    networks: dict[str, Association | None] = field(default_factory=dict)
    members: dict[tuple[int, str], NetworkMember | None] = field(default_factory=dict)
    senders: dict[str, SenderKeys] = field(default_factory=dict)
    known_keys: dict[int, set[str]] = field(default_factory=dict)
    written: dict[int, set[tuple[int | None, str]]] = field(default_factory=dict)
    rows: dict[str, ReceivedReport | None] = field(default_factory=dict)

    def preload(self, session: Session, object_ids: list[str]) -> None:
        """Read the stored reports of these ids in one query (locked, as ``row`` does)."""
        wanted = sorted(set(object_ids) - set(self.rows))
        query = select(ReceivedReport).where(col(ReceivedReport.object_id).in_(wanted))
        found = {row.object_id: row for row in session.exec(query.with_for_update())}
        self.rows.update({object_id: found.get(object_id) for object_id in wanted})

    def row(self, session: Session, object_id: str) -> ReceivedReport | None:
        """The stored report of this id (preloaded, or read now)."""
        if object_id not in self.rows:
            self.rows[object_id] = _row(session, object_id)
        return self.rows[object_id]

    def network(self, session: Session, slug: str) -> Association | None:
        """The association of this slug (None: there is none)."""
        if slug not in self.networks:
            query = select(Association).where(Association.slug == slug)
            self.networks[slug] = session.exec(query).first()
        return self.networks[slug]

    def member(self, session: Session, network_id: int, actor_uri: str) -> NetworkMember | None:
        """The network's active member with this actor (None: not an active member)."""
        wanted = (network_id, actor_uri)
        if wanted not in self.members:
            query = select(NetworkMember).where(
                NetworkMember.network_id == network_id,
                NetworkMember.actor_uri == actor_uri,
                NetworkMember.status == "active",
            )
            self.members[wanted] = session.exec(query).first()
        return self.members[wanted]

    def sender(self, session: Session, actor_uri: str) -> SenderKeys:
        """The sender's row and keys."""
        if actor_uri not in self.senders:
            query = select(RemoteActor).where(RemoteActor.uri == actor_uri)
            actor = session.exec(query).first()
            found = SenderKeys(actor, {}, {})
            if actor is not None and not actor.is_gone:
                found = SenderKeys(
                    actor, actor_documents.ed25519_keys(actor), actor_documents.revoked_keys(actor)
                )
            self.senders[actor_uri] = found
        return self.senders[actor_uri]

    def keys_of(self, session: Session, network_id: int) -> set[str]:
        """Every reference key the network lists or listed."""
        if network_id not in self.known_keys:
            self.known_keys[network_id] = network_keys(session, network_id)
        return self.known_keys[network_id]

    def finish(self, session: Session) -> None:
        """Rebuild the sums the reports entered, note the months to forward."""
        for network_id, written in sorted(self.written.items()):
            reports_written(session, network_id, written)
        self.written.clear()


def _network(
    session: Session, config: Config, obj: dict[str, Any], lookups: Lookups
) -> Association:
    uri = obj.get("network")
    parsed = urls.parse_local_actor(config, uri) if isinstance(uri, str) else None
    if parsed is None or parsed[0] != "association" or parsed[1] is None:
        raise Ignored("the report is not for one of our networks")
    slug = parsed[1]
    network = lookups.network(session, slug)
    if network is None or not network.is_network:
        raise Ignored(f"{slug} is not one of our networks")
    if uri != urls.actor_uri(config, "association", slug):
        raise Ignored("the report names the network by another address")
    return network


def _member(
    session: Session, network: Association, actor_uri: str, lookups: Lookups
) -> NetworkMember:
    assert network.id is not None
    member = lookups.member(session, network.id, actor_uri)
    if member is None:
        raise Ignored(f"{actor_uri} is not an active member of {network.slug}")
    return member


def _addressing(actor_uri: str, obj: dict[str, Any]) -> None:
    try:
        validation.validate_network_report(obj)
    except validation.SchemaError as error:
        raise Ignored(f"not a valid NetworkReport: {error}") from None
    if obj["network"] not in obj["to"]:
        raise Ignored("the report is not addressed to its network")
    if obj["attributedTo"] != actor_uri:
        raise Ignored("the report is attributed to someone else than its sender")
    if not actor_documents.same_origin(obj["id"], actor_uri):
        raise Ignored("the report does not live on its sender's server")


def proof_problem(actor: RemoteActor | None, obj: dict[str, Any]) -> str | None:
    """Why the proof fails (None: it verifies with one of the actor's Ed25519 keys)."""
    if actor is None or actor.is_gone:
        return "the sender's keys are unknown"
    sender = SenderKeys(
        actor, actor_documents.ed25519_keys(actor), actor_documents.revoked_keys(actor)
    )
    return _proof_problem(sender, obj)


def _proof_problem(sender: SenderKeys, obj: dict[str, Any]) -> str | None:
    if sender.actor is None or sender.actor.is_gone:
        return "the sender's keys are unknown"
    try:
        key_id = proofs.proof_key_id(obj)
    except proofs.ProofError as error:
        return str(error)
    key = sender.keys.get(key_id)
    if key is None:
        return f"the key {key_id} is not one of the sender's"
    revoked = sender.revoked.get(key_id)
    if revoked is not None and _time(obj["proof"]["created"]) >= revoked:
        return f"the key {key_id} was revoked before it signed"
    try:
        proofs.verify_object(obj, key)
    except proofs.ProofError as error:
        return f"the proof does not verify: {error}"
    return None


def _time(value: str) -> datetime:
    return aware(datetime.fromisoformat(value.replace("Z", "+00:00")))


def check_report(
    session: Session,
    config: Config,
    *,
    actor_uri: str,
    obj: Any,
    lookups: Lookups | None = None,
) -> Checked:
    """Every check of a received report; Ignored when nothing may be stored."""
    if not isinstance(obj, dict):
        raise Ignored("the report is not an object")
    lookups = lookups if lookups is not None else Lookups()
    network = _network(session, config, obj, lookups)
    member = _member(session, network, actor_uri, lookups)
    _addressing(actor_uri, obj)
    problem = _proof_problem(lookups.sender(session, actor_uri), obj)
    status = VERIFIED if problem is None else problem[:REASON_MAX]
    return Checked(network, member, obj, _time(obj["updated"]), status)


# -- storing ------------------------------------------------------------------------------


def cents_of(amount: str | None) -> int | None:
    """A valued amount ("123.45") in cents (None stays None)."""
    if amount is None:
        return None
    whole, fraction = amount.split(".")
    return int(whole) * 100 + int(fraction)


def _row(session: Session, object_id: str) -> ReceivedReport | None:
    query = select(ReceivedReport).where(ReceivedReport.object_id == object_id)
    return session.exec(query.with_for_update()).first()


def store(
    session: Session, checked: Checked, *, now: datetime, lookups: Lookups | None = None
) -> str:
    """Keep a checked report unless we hold a newer one: "stored", "flagged" or "ignored".

    With ``lookups`` (a batch), the month to forward is noted by ``lookups.finish``.
    """
    own = lookups is None
    lookups = lookups if lookups is not None else Lookups()
    obj, member = checked.obj, checked.member
    row = lookups.row(session, obj["id"])
    if row is not None and (row.network_id != checked.network.id or row.member_id != member.id):
        return "ignored"  # another member's report id
    if row is not None and aware(row.updated) >= checked.updated:
        return "ignored"  # a replay, or an older version
    verified = checked.proof_status == VERIFIED
    updated = checked.updated if verified else min(checked.updated, now)
    assert checked.network.id is not None
    row = row or ReceivedReport(
        object_id=obj["id"], network_id=checked.network.id, updated=updated, body=""
    )
    row.member_id, row.issuer_uri, row.month = member.id, obj["attributedTo"], obj["month"]
    row.minutes, row.actions, row.volunteers = obj["minutes"], obj["actions"], obj.get("volunteers")
    row.valued_cents = cents_of(obj["valuedAmount"])
    row.currency = (obj["currency"] or "") if row.valued_cents is not None else ""
    row.categories = json.dumps(
        {item["key"]: item["minutes"] for item in obj.get("minutesByCategory", [])}
    )
    row.updated, row.body = updated, json.dumps(obj, ensure_ascii=False)
    row.proof_status, row.deleted, row.received_at = checked.proof_status, False, now
    network_id = checked.network.id
    save_report(session, row, known_keys=lookups.keys_of(session, network_id), note_month=False)
    lookups.rows[row.object_id] = row
    lookups.written.setdefault(network_id, set()).add((row.member_id, row.month))
    if own:
        lookups.finish(session)
    return "stored" if verified else "flagged"


def accept_report(
    session: Session,
    config: Config,
    *,
    actor_uri: str,
    obj: Any,
    now: datetime,
    lookups: Lookups | None = None,
) -> str:
    """Check and keep one report: "stored", "flagged" (proof failed), "ignored" or "rejected".

    ``lookups``: shared by the reports of one transaction (then call its ``finish``).
    """
    try:
        checked = check_report(session, config, actor_uri=actor_uri, obj=obj, lookups=lookups)
    except Ignored as error:
        log.warning("report %s from %s ignored: %s", _id(obj)[:200], actor_uri[:200], error)
        return "rejected"
    if checked.proof_status != VERIFIED:
        log.warning("report %s from %s: %s", _id(obj)[:200], actor_uri[:200], checked.proof_status)
    return store(session, checked, now=now, lookups=lookups)


def accept_local(session: Session, config: Config, *, obj: dict[str, Any], now: datetime) -> str:
    """A report one of our associations just signed for one of our networks (no traffic)."""
    actor_uri = _id(obj.get("attributedTo"))
    lookups = Lookups()
    try:
        network = _network(session, config, obj, lookups)
        member = _member(session, network, actor_uri, lookups)
        _addressing(actor_uri, obj)
    except Ignored as error:
        log.warning("report %s ignored: %s", _id(obj)[:200], error)
        return "rejected"
    checked = Checked(network, member, obj, _time(obj["updated"]), VERIFIED)
    return store(session, checked, now=now)


def delete_report(session: Session, *, actor_uri: str, object_id: str, now: datetime) -> str:
    """A Delete from the report's issuer: "deleted", or "ignored" (unknown, someone else's)."""
    row = _row(session, object_id) if object_id else None
    if row is None or row.issuer_uri != actor_uri:
        return "ignored"
    if not row.deleted:
        row.deleted, row.received_at = True, now
        save_report(session, row)
    return "deleted"


# -- inbox handlers -----------------------------------------------------------------------


def on_report(
    session: Session,
    config: Config,
    activity: dict[str, Any],
    *,
    now: datetime,
    lookups: Lookups | None = None,
) -> str:
    """A Create or Update of a NetworkReport (``lookups``: see accept_report)."""
    return accept_report(
        session,
        config,
        actor_uri=_id(activity.get("actor")),
        obj=activity.get("object"),
        now=now,
        lookups=lookups,
    )


def on_delete(session: Session, activity: dict[str, Any], *, now: datetime) -> str:
    """A Delete whose object is a report (or its Tombstone): "deleted" or "ignored"."""
    return delete_report(
        session,
        actor_uri=_id(activity.get("actor")),
        object_id=_id(activity.get("object")),
        now=now,
    )
