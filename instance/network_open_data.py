"""A network's open data: totals by month and category, and each member's totals only.

Published without authentication under the licence the network chose
(docs/open-data.md describes every field). Every number is a sum of fields of
the members' reports (see instance/network_dashboard.py); members appear with
their totals only, never a breakdown, and those that asked to be listed
anonymously appear without name, host or actor.
"""

from datetime import datetime
from typing import Any

from sqlmodel import Session

from instance import networks
from instance.network_dashboard import (
    Member,
    Months,
    Sums,
    add_up,
    by_category,
    by_month,
    member_sums,
    members_of,
)
from instance.network_sums import CURRENCY
from instance.valuation import euros
from schema.tables import Association

FORMAT = "benefed-network-open-data/1"


def sums_json(sums: Sums) -> dict[str, Any]:
    """The figures of some reports, as published."""
    return {
        "minutes": sums.minutes,
        "actions": sums.actions,
        "valued_amount": euros(sums.valued_cents),
        "volunteers": sums.volunteers,
        "volunteers_hidden": sums.hidden,
        "reports": sums.reports,
    }


def member_json(member: Member | None, sums: Sums) -> dict[str, Any]:
    """A member with its totals only; nothing that names it when it asked anonymity."""
    shown = member is not None and not member.anonymous
    return {
        "name": member.name if shown and member is not None else None,
        "anonymous": member is not None and member.anonymous,
        "host": (member.host or None) if shown and member is not None else None,
        "actor": member.actor_uri if shown and member is not None else None,
        "is_network": member is not None and member.is_network,
        "status": member.status if member is not None else "former",
        "minutes": sums.minutes,
        "actions": sums.actions,
        "valued_amount": euros(sums.valued_cents),
        "reports": sums.reports,
    }


def _members(session: Session, network: Association, months: Months) -> list[dict[str, Any]]:
    assert network.id is not None
    sums = member_sums(session, network.id, months)
    known = members_of(session, network.id, status="active")
    missing = [key for key in sums if key is not None and key not in known]
    known |= members_of(session, network.id, ids=missing)
    lines = [member_json(member, sums.get(key, Sums())) for key, member in known.items()]
    if None in sums:
        lines.append(member_json(None, sums[None]))
    named = sorted((line for line in lines if line["name"]), key=lambda m: m["name"].casefold())
    unnamed = sorted((line for line in lines if not line["name"]), key=lambda m: -m["minutes"])
    return named + unnamed


def open_data(
    session: Session,
    *,
    network: Association,
    months: Months,
    actor_uri: str,
    page_url: str,
    generated: datetime,
) -> dict[str, Any]:
    """The open-data document of the network over the months."""
    assert network.id is not None
    profile = networks.profile_of(session, network)
    licence = networks.licence_of(profile)
    month_groups = by_month(session, network.id, months)
    whole = add_up(group.sums for group in month_groups)
    categories = by_category(session, network, months, whole)
    return {
        "format": FORMAT,
        "network": {"name": network.name, "actor": actor_uri, "url": page_url},
        "licence": {"id": licence.id, "name": licence.name, "url": licence.url},
        "threshold": profile.threshold,
        "generated": generated.isoformat(),
        "from": months.first,
        "to": months.last,
        "currency": CURRENCY,
        "totals": sums_json(whole),
        "months": [{"month": group.key, **sums_json(group.sums)} for group in month_groups],
        "categories": [
            {"key": group.key, "label": group.label, "minutes": group.sums.minutes}
            for group in categories
        ],
        "members": _members(session, network, months),
    }
