"""Blocks: domains and actors the instance admin cut off.

A blocked domain covers its subdomains. Their requests get 403, nothing is
delivered to them, and blocking ends their follows (state "ended"). A signed
request is checked in one indexed query: ``values_for`` lists the Block values
that would cover its sender (the hosts and their parent domains, the actor), and
``hits`` finds those that are there.
"""

from functools import lru_cache
from urllib.parse import urlsplit

from sqlalchemy import Connection, Select, bindparam
from sqlmodel import Session, col, or_, select

from federation import safe_http
from instance.errors import Invalid, NotFound
from instance.i18n import _
from schema.tables import Block, Follow, RemoteActor
from schema.tables._base import utcnow

REASON_MAX = 500
_DOMAIN_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789.-:[]")


def host_of(uri: str) -> str:
    """The lower-cased host (with its port, if any) of a URL; "" when there is none."""
    try:
        return safe_http.host_of(uri)
    except (ValueError, TypeError):
        return ""


def _bare(host: str) -> str:
    """The host without its port."""
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.partition(":")[0]


def _domain_matches(blocked: str, host: str) -> bool:
    host, blocked = host.lower(), blocked.lower()
    if _bare(blocked) != blocked:  # a port was given: that exact host and port only
        return host == blocked
    if blocked.startswith("["):  # an IPv6 address has no subdomains
        return _bare(host) == blocked
    bare = _bare(host)
    return bare == blocked or bare.endswith("." + blocked)


def blocked_domains(session: Session) -> list[str]:
    """Every blocked domain."""
    rows = session.exec(select(Block.domain).where(Block.domain != ""))
    return [row for row in rows]


def blocked_actors(session: Session) -> set[str]:
    """Every blocked actor URI."""
    return set(session.exec(select(Block.actor_uri).where(Block.actor_uri != "")))


def host_in(domains: list[str], host: str) -> bool:
    """True when the host falls under one of the blocked domains (read once per batch)."""
    return bool(host) and any(_domain_matches(d, host) for d in domains)


def is_blocked(session: Session, *, host: str = "", actor_uri: str = "") -> bool:
    """True when the host (or the actor's host) or the actor itself is blocked."""
    hosts = {h for h in (host.lower(), host_of(actor_uri)) if h}
    if actor_uri:
        hit = session.exec(select(Block.id).where(Block.actor_uri == actor_uri)).first()
        if hit is not None:
            return True
    return any(_domain_matches(d, h) for d in blocked_domains(session) for h in hosts)


def candidate_domains(host: str) -> set[str]:
    """The Block.domain values that cover a host: itself (with its port) and its parent domains."""
    host = host.lower()
    if not host:
        return set()
    bare = _bare(host)
    found = {host, bare}
    if not bare.startswith("["):
        labels = bare.split(".")
        found.update(".".join(labels[index:]) for index in range(1, len(labels)))
    return {domain for domain in found if domain}


@lru_cache(maxsize=64)
def _block_query(domains: int, actors: int) -> Select[tuple[str, str]]:
    # One statement per number of values, with plain parameters: SQLAlchemy compiles
    # it once (an "expanding" IN would render the SQL again on every request).
    either = []
    if domains:
        either.append(col(Block.domain).in_([bindparam(f"d{n}") for n in range(domains)]))
    if actors:
        either.append(col(Block.actor_uri).in_([bindparam(f"a{n}") for n in range(actors)]))
    return select(Block.domain, Block.actor_uri).where(or_(*either))


def values_for(key_id: str, actor_uri: str) -> tuple[set[str], set[str]]:
    """The Block.domain and Block.actor_uri values that would refuse this sender."""
    hosts = {host_of(key_id), host_of(actor_uri)}
    domains = set().union(*(candidate_domains(host) for host in hosts if host))
    return domains, {uri for uri in (actor_uri, key_id.partition("#")[0]) if uri}


def hits(
    connection: Connection | Session, domains: set[str], actors: set[str]
) -> tuple[set[str], set[str]]:
    """The blocked domains and actors among these (one query)."""
    if not domains and not actors:
        return set(), set()
    params = {f"d{n}": value for n, value in enumerate(sorted(domains))}
    params.update({f"a{n}": value for n, value in enumerate(sorted(actors))})
    rows = connection.execute(_block_query(len(domains), len(actors)), params).all()
    return {d for d, _a in rows if d in domains}, {a for _d, a in rows if a in actors}


def blocked(connection: Connection | Session, key_id: str, actor_uri: str) -> bool:
    """True when the key's host, the actor's host or either actor is blocked (one query)."""
    domains, actors = values_for(key_id, actor_uri)
    hit_domains, hit_actors = hits(connection, domains, actors)
    return bool(hit_domains or hit_actors)


def check_domain(domain: str) -> str:
    """A domain as the admin typed it, normalised (lower case, no scheme or path)."""
    domain = domain.strip().lower()
    if "://" in domain:
        domain = host_of(domain)
    domain = domain.strip("/").removeprefix("*.")
    if not domain or len(domain) > 255 or not set(domain) <= _DOMAIN_CHARS:
        raise Invalid({"domain": _("Enter a domain name, like example.org.")})
    return domain


def check_actor(uri: str) -> str:
    """An actor address (https://...) as typed, checked."""
    uri = uri.strip()
    parts = urlsplit(uri) if len(uri) <= 2048 else None
    if parts is None or parts.scheme not in {"http", "https"} or not parts.netloc:
        raise Invalid({"actor": _("Enter the address of an account, starting with https://.")})
    return uri


def add_block(
    session: Session, *, domain: str = "", actor_uri: str = "", reason: str = ""
) -> Block:
    """Block a domain or an actor; their follows end (deliveries to them fail when due)."""
    if bool(domain.strip()) == bool(actor_uri.strip()):
        raise Invalid({"domain": _("Enter either a domain or an account address.")})
    if len(reason) > REASON_MAX:
        raise Invalid({"reason": _("Use at most 500 characters.")})
    domain = check_domain(domain) if domain.strip() else ""
    actor_uri = check_actor(actor_uri) if actor_uri.strip() else ""
    query = select(Block).where(Block.domain == domain, Block.actor_uri == actor_uri)
    block = session.exec(query).first()
    if block is None:
        block = Block(domain=domain, actor_uri=actor_uri, reason=reason.strip())
        session.add(block)
        session.flush()
    _drop_follows(session, domain=domain, actor_uri=actor_uri)
    return block


def remove_block(session: Session, *, block_id: int) -> None:
    """Lift a block (follows that ended stay ended)."""
    block = session.get(Block, block_id)
    if block is None:
        raise NotFound(_("No such block."))
    session.delete(block)
    session.flush()


def list_blocks(session: Session) -> list[Block]:
    """Every block, newest first."""
    return list(session.exec(select(Block).order_by(col(Block.created_at).desc())))


def _matching_actors(session: Session, *, domain: str, actor_uri: str) -> list[RemoteActor]:
    if actor_uri:
        return list(session.exec(select(RemoteActor).where(RemoteActor.uri == actor_uri)))
    query = select(RemoteActor).where(
        or_(
            RemoteActor.host == domain,
            col(RemoteActor.host).endswith("." + domain),
            col(RemoteActor.host).startswith(domain + ":"),
            col(RemoteActor.host).contains("." + domain + ":"),
        )
    )
    return [a for a in session.exec(query) if _domain_matches(domain, a.host)]


def _drop_follows(session: Session, *, domain: str, actor_uri: str) -> None:
    now = utcnow()
    for actor in _matching_actors(session, domain=domain, actor_uri=actor_uri):
        follows = session.exec(select(Follow).where(Follow.remote_actor_id == actor.id))
        for follow in follows:
            if follow.state != "ended":
                follow.state = "ended"
                follow.updated_at = now
                session.add(follow)
    session.flush()
