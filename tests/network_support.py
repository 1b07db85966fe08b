"""Networks in tests: a network, its members and their reports, written directly.

Joining and report reception over ActivityPub belong to federation; these
helpers insert the rows it would write (reports shaped as docs/networks
describe them: a NetworkReport body, categories by reference key) and keep the
category rows through instance.network_reports.save_report, as federation must.
"""

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from itertools import count
from typing import Any

from instance.network_privacy import OTHER, Breakdown, Cell, protect
from instance.network_reports import save_report
from schema.db import Database
from schema.tables import Association, NetworkMember, ReceivedReport, User
from schema.tables._base import utcnow
from tests.factories import make_association

AS = "https://www.w3.org/ns/activitystreams"
INTEGRITY = "https://w3id.org/security/data-integrity/v2"
NETWORK_HOST = "testserver"
_numbers = count(1)


def make_network(db: Database, owner: User, **overrides: Any) -> Association:
    """A network (an association marked as one) owned by ``owner``."""
    return make_association(db, owner, is_network=True, **overrides)


def add_member(
    db: Database,
    network: Association,
    *,
    name: str | None = None,
    host: str = "asso.example",
    status: str = "active",
    anonymous: bool = False,
    is_network: bool = False,
) -> NetworkMember:
    """A member (or request) of the network, as federation would store its Follow."""
    number = next(_numbers)
    slug = f"member-{number}"
    with db.write() as session:
        member = NetworkMember(
            network_id=network.id or 0,
            actor_uri=f"https://{host}/associations/{slug}",
            name=name if name is not None else f"Association {number}",
            status=status,
            anonymous=anonymous,
            is_network=is_network,
        )
        session.add(member)
        session.flush()
        return member


def report_body(
    network: Association, member: NetworkMember, month: str, figures: dict[str, Any]
) -> dict[str, Any]:
    """A NetworkReport object as the member would send it (the proof is not checked here)."""
    base = member.actor_uri.rsplit("/associations/", 1)[0]
    slug = member.actor_uri.rsplit("/", 1)[1]
    body: dict[str, Any] = {
        "@context": [AS, INTEGRITY, {"NetworkReport": "https://benefed.org/ns#NetworkReport"}],
        "id": f"{base}/associations/{slug}/reports/{NETWORK_HOST}/{network.slug}/{month}",
        "type": "NetworkReport",
        "attributedTo": member.actor_uri,
        "network": f"http://{NETWORK_HOST}/associations/{network.slug}",
        "to": [f"http://{NETWORK_HOST}/associations/{network.slug}"],
        "month": month,
        "minutes": figures["minutes"],
        "actions": figures["actions"],
        "valuedAmount": figures.get("valued_amount"),
        "currency": "EUR" if figures.get("valued_amount") else None,
        "updated": figures["updated"],
        "proof": {"type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022"},
    }
    if figures.get("volunteers") is not None:
        body["volunteers"] = figures["volunteers"]
        body["minutesByCategory"] = [
            {"key": key, "minutes": value} for key, value in figures["categories"].items()
        ]
    return body


def add_report(
    db: Database,
    network: Association,
    member: NetworkMember,
    month: str,
    *,
    minutes: int,
    actions: int = 1,
    volunteers: int | None = None,
    valued_cents: int | None = None,
    categories: dict[str, int] | None = None,
    proof_status: str = "verified",
    deleted: bool = False,
    received_at: datetime | None = None,
) -> ReceivedReport:
    """Store one report of a member for a month, with its category rows."""
    updated = received_at or utcnow()
    valued = None if valued_cents is None else f"{valued_cents // 100}.{valued_cents % 100:02d}"
    figures = {
        "minutes": minutes,
        "actions": actions,
        "volunteers": volunteers,
        "categories": categories or {},
        "valued_amount": valued,
        "updated": updated.isoformat(),
    }
    body = report_body(network, member, month, figures)
    with db.write() as session:
        report = ReceivedReport(
            object_id=body["id"],
            network_id=network.id or 0,
            member_id=member.id,
            issuer_uri=member.actor_uri,
            month=month,
            minutes=minutes,
            actions=actions,
            volunteers=volunteers,
            valued_cents=valued_cents,
            currency="EUR" if valued_cents is not None else "",
            categories=json.dumps(categories or {}),
            updated=updated,
            body=json.dumps(body),
            proof_status=proof_status,
            deleted=deleted,
            received_at=received_at or utcnow(),
        )
        return save_report(session, report)


def protected_report(
    db: Database,
    network: Association,
    member: NetworkMember,
    month: str,
    cells: Iterable[Cell],
    *,
    threshold: int = 5,
    actions: int = 1,
    valued_cents: int | None = None,
) -> tuple[ReceivedReport, Breakdown]:
    """A report built from a month's cells the way members build theirs (protect)."""
    breakdown = protect(list(cells), threshold)
    categories = dict(breakdown.shown)
    if breakdown.has_breakdown and breakdown.other_minutes:
        categories[OTHER] = breakdown.other_minutes
    report = add_report(
        db,
        network,
        member,
        month,
        minutes=breakdown.total_minutes,
        actions=actions,
        volunteers=breakdown.volunteers,
        valued_cents=valued_cents,
        categories={str(key): value for key, value in categories.items()},
    )
    return report, breakdown


def at(days_ago: int) -> datetime:
    """A moment some days ago."""
    return utcnow() - timedelta(days=days_ago)
