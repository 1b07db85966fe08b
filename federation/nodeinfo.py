"""NodeInfo 2.1: public, crawled, unsigned facts about the instance (never hour totals)."""

from datetime import datetime, timedelta
from importlib import metadata
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from federation import urls
from instance.config import Config
from schema.tables import Association, PublicNote, User
from schema.tables._base import utcnow

SCHEMA_REL = "http://nodeinfo.diaspora.software/ns/schema/2.1"
APPLICATION_REL = "https://www.w3.org/ns/activitystreams#Application"
CONTENT_TYPE = 'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/2.1#"'
SOFTWARE_NAME = "benefed"
MONTH = timedelta(days=30)
HALF_YEAR = timedelta(days=180)


def software_version() -> str:
    """The installed Benefed version (from the package metadata)."""
    try:
        return metadata.version("benefed")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def discovery_document(config: Config) -> dict[str, Any]:
    """/.well-known/nodeinfo: the 2.1 document, and the instance actor (FEP-2677)."""
    base = urls.base_url(config)
    return {
        "links": [
            {"rel": SCHEMA_REL, "href": f"{base}/nodeinfo/2.1"},
            {"rel": APPLICATION_REL, "href": urls.actor_uri(config, "instance", None)},
        ]
    }


def _count(session: Session, statement: Any) -> int:
    return int(session.exec(statement).one())


def _active_since(session: Session, since: datetime) -> int:
    statement = (
        select(func.count())
        .select_from(User)
        .where(col(User.is_suspended).is_(False), col(User.last_login_at) >= since)
    )
    return _count(session, statement)


def nodeinfo_document(
    session: Session, config: Config, *, now: datetime | None = None
) -> dict[str, Any]:
    """The NodeInfo 2.1 document (schema-valid, no other top-level keys)."""
    moment = now or utcnow()
    users = _count(
        session,
        select(func.count()).select_from(User).where(col(User.is_suspended).is_(False)),
    )
    public_associations = _count(
        session,
        select(func.count())
        .select_from(Association)
        .where(
            col(Association.is_hidden).is_(False),
            col(Association.is_suspended).is_(False),
        ),
    )
    posts = _count(session, select(func.count()).select_from(PublicNote))
    enabled = config.federation.enabled
    return {
        "version": "2.1",
        "software": {"name": SOFTWARE_NAME, "version": software_version()},
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": config.registration == "open",
        "usage": {
            "users": {
                "total": users,
                "activeHalfyear": _active_since(session, moment - HALF_YEAR),
                "activeMonth": _active_since(session, moment - MONTH),
            },
            "localPosts": posts,
        },
        "metadata": {
            "nodeName": config.site_name,
            "associations": public_associations,
            "federation": {"enabled": enabled},
        },
    }
