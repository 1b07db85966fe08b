"""The NetworkReport object a member sends its network, and the activities that carry it.

One object per (association, network, month), with a stable id
``{base}/associations/{slug}/reports/{network host}/{network name}/{YYYY-MM}``.
It states the protected figures (instance/report_figures.py), is signed with
the association's Ed25519 key (eddsa-jcs-2022) and travels in a Create (first
time), an Update (a correction) or a Delete of its Tombstone (erasure), by the
association's actor, to the network actor only. A network of this instance
gets a stand-in actor without inbox (its terms read from the database); the
publisher then stores the report directly (federation/reports_in.accept_local).
"""

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from sqlmodel import Session, select

from federation import actor_keys, outbox, proofs, urls
from federation.network_terms import NetworkTerms, terms_of_actor
from federation.peers import aware
from instance import network_links, networks
from instance.config import Config
from instance.network_privacy import OTHER
from instance.report_figures import ReportFigures
from instance.valuation import euros
from schema import vocabulary
from schema.tables import Association, NetworkLink, RemoteActor


def network_actor(session: Session, uri: str) -> RemoteActor | None:
    """The cached actor of a network (None: never fetched, or gone)."""
    found = session.exec(select(RemoteActor).where(RemoteActor.uri == uri)).first()
    return None if found is None or found.is_gone else found


def _local_terms(session: Session, network: Association) -> NetworkTerms:
    """The terms of a network of this instance, read directly."""
    categories = networks.list_categories(session, network=network)
    listed = {c.key: c.label for c in categories if c.key != OTHER}
    return NetworkTerms(
        threshold=networks.profile_of(session, network).threshold, categories=listed
    )


def target_of(
    session: Session, config: Config, link: NetworkLink
) -> tuple[RemoteActor | None, NetworkTerms | None]:
    """The network's actor (a stand-in without inbox when it is ours) and its terms."""
    slug = network_links.local_slug(config, link.network_uri)
    if slug is None:
        found = network_actor(session, link.network_uri)
        if found is None or not found.inbox:
            return None, None
        return found, terms_of_actor(found)
    network = session.exec(select(Association).where(Association.slug == slug)).first()
    if network is None or not network.is_network:
        return None, None
    stand_in = RemoteActor(uri=link.network_uri, host=config.domain, preferred_username=slug)
    return stand_in, _local_terms(session, network)


def report_context() -> list[Any]:
    """The @context of a NetworkReport: ActivityStreams, Data Integrity, our terms inline."""
    return vocabulary.summary_context()


def network_name(network: RemoteActor) -> str:
    """The network's name in report ids: its preferredUsername, else its address's last part."""
    name = network.preferred_username or urlsplit(network.uri).path.rstrip("/").rsplit("/", 1)[-1]
    return name or "network"


def report_id(config: Config, slug: str, network: RemoteActor, month: str) -> str:
    """The stable id of the report of (association, network, month)."""
    issuer = urls.actor_uri(config, "association", slug)
    host = urlsplit(network.uri).netloc or network.host
    return (
        f"{issuer}/reports/{quote(host, safe=':')}/{quote(network_name(network), safe='')}/{month}"
    )


def unsigned_object(
    config: Config, *, slug: str, network: RemoteActor, figures: ReportFigures
) -> dict[str, Any]:
    """The NetworkReport without its ``updated`` time and proof."""
    document: dict[str, Any] = {
        "@context": report_context(),
        "id": report_id(config, slug, network, figures.month),
        "type": vocabulary.NETWORK_REPORT,
        "attributedTo": urls.actor_uri(config, "association", slug),
        "network": network.uri,
        "to": [network.uri],
        "month": figures.month,
        "minutes": figures.minutes,
        "actions": figures.actions,
    }
    if figures.volunteers is not None:
        document["volunteers"] = figures.volunteers
    if figures.categories is not None:
        document["minutesByCategory"] = [
            {"key": key, "minutes": minutes}
            for key, minutes in sorted(figures.categories.items())
            if minutes
        ]
    document["valuedAmount"] = euros(figures.valued_cents)
    document["currency"] = figures.currency if figures.valued_cents is not None else None
    return document


def digest(document: dict[str, Any]) -> str:
    """The SHA-256 of what a report states (JCS), to skip sending the same figures again."""
    return hashlib.sha256(proofs.canonical_json(document)).hexdigest()


def iso_precise(moment: datetime) -> str:
    """A UTC timestamp with microseconds and a Z (``updated`` orders every version)."""
    return aware(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def next_updated(last: datetime | None, now: datetime) -> datetime:
    """Now, or just after the last version when the clock has not moved past it."""
    if last is None:
        return now
    last = aware(last)
    return now if now > last else last + timedelta(microseconds=1)


def signed_object(
    session: Session,
    config: Config,
    *,
    association_id: int,
    document: dict[str, Any],
    updated: datetime,
) -> dict[str, Any]:
    """The report stamped with ``updated`` and signed with the association's Ed25519 key."""
    key_id, private = actor_keys.ed25519_signing_key(
        session, config=config, kind="association", owner_id=association_id
    )
    stamped = {**document, "updated": iso_precise(updated)}
    return proofs.sign_object(stamped, private, key_id, updated)


def tombstone(object_id: str) -> dict[str, Any]:
    """What a Delete carries: the report's Tombstone."""
    return {"id": object_id, "type": "Tombstone", "formerType": vocabulary.NETWORK_REPORT}


def activity(kind: str, actor: str, network_uri: str, obj: dict[str, Any]) -> dict[str, Any]:
    """A Create, Update or Delete of a report by the association's actor, to the network."""
    return {
        "@context": report_context(),
        "id": f"{obj['id']}#{kind.lower()}-{uuid.uuid4().hex}",
        "type": kind,
        "actor": actor,
        "to": [network_uri],
        "object": obj,
    }


def send(
    session: Session,
    *,
    association_id: int,
    issuer: str,
    network: RemoteActor,
    kind: str,
    obj: dict[str, Any],
    now: datetime,
) -> None:
    """Queue an activity about a report, by the association's actor, to the network's inbox."""
    outbox.publish(
        session,
        config=None,  # the body is signed at send time with the association's key
        actor_kind="association",
        actor_id=association_id,
        activity=activity(kind, issuer, network.uri, obj),
        inboxes=[network.inbox],
        now=now,
    )


def dumps(document: dict[str, Any]) -> str:
    """Compact JSON, as kept in SentReport.body."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))
