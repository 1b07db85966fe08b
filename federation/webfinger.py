"""WebFinger (RFC 7033): answering about our actors, and asking other servers about theirs."""

import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

import httpx
from sqlmodel import Session

from federation import urls
from federation.documents import find_local_actor
from federation.handles import Handle, HandleError, parse_handle
from federation.safe_http import get_limited
from instance.config import Config
from instance.errors import NotFound

JRD_TYPE = "application/jrd+json"
AP_TYPE = "application/activity+json"
PROFILE_PAGE = "http://webfinger.net/rel/profile-page"
SERVICE_REL = "https://www.w3.org/ns/activitystreams#Service"
MAX_RESOURCE = 2048


class ResourceError(ValueError):
    """The resource parameter is missing or malformed (400)."""


class WebFingerError(Exception):
    """Another server's WebFinger answer is missing, malformed or points nowhere."""


def _resource_target(config: Config, resource: str) -> tuple[str, str | None]:
    """(kind, ident) named by a resource: acct:, an actor URL, or the instance root URL."""
    if not resource or len(resource) > MAX_RESOURCE:
        raise ResourceError("resource is missing or too long")
    if resource.lower().startswith("acct:"):
        try:
            handle = parse_handle(resource)
        except HandleError:
            if resource[5:].lower() == f"{config.domain}@{config.domain}".lower():
                return ("instance", None)
            raise ResourceError("malformed acct: resource") from None
        if handle.host != config.domain.lower():
            raise NotFound("Not a handle of this instance.")
        if handle.name.lower() == config.domain.lower():
            return ("instance", None)
        return ("name", handle.name.lower())
    parts = urlsplit(resource)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ResourceError("resource must be an acct: or http(s) URI")
    if urls.is_local(config, resource) and parts.path in {"", "/"} and not parts.query:
        return ("instance", None)
    found = urls.parse_local_actor(config, resource)
    if found is None:
        raise NotFound("Not an actor of this instance.")
    return found


def jrd_for(session: Session, config: Config, resource: str) -> dict[str, Any]:
    """The JRD answering a resource; ResourceError (400) or NotFound (404)."""
    kind, ident = _resource_target(config, resource)
    if kind == "name":
        actor = _by_name(session, config, ident or "")
    else:
        actor = find_local_actor(session, config, kind, ident)
    uri = urls.actor_uri(config, actor.kind, actor.ident)
    name = config.domain if actor.kind == "instance" else actor.ident
    subject = f"acct:{name}@{config.domain}"
    links: list[dict[str, Any]] = [{"rel": "self", "type": AP_TYPE, "href": uri}]
    if actor.kind == "instance":
        links.append({"rel": SERVICE_REL, "type": AP_TYPE, "href": uri})
        links.append(
            {"rel": PROFILE_PAGE, "type": "text/html", "href": f"{urls.base_url(config)}/"}
        )
    elif actor.kind == "association":
        links.append({"rel": PROFILE_PAGE, "type": "text/html", "href": uri})
    if resource.lower().startswith(("http://", "https://")) and actor.kind == "instance":
        subject = resource
    return {"subject": subject, "aliases": [uri], "links": links}


def _by_name(session: Session, config: Config, name: str):  # type: ignore[no-untyped-def]
    """An association or a person by their shared name space name."""
    try:
        return find_local_actor(session, config, "association", name)
    except NotFound:
        return find_local_actor(session, config, "user", name)


def host_meta(config: Config) -> str:
    """The host-meta XRD document pointing at WebFinger (lrdd template)."""
    template = f"{urls.base_url(config)}/.well-known/webfinger?resource={{uri}}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" type="application/jrd+json" template={quoteattr(template)}/>\n'
        "</XRD>\n"
    )


def scheme_for(config: Config, host: str) -> str:
    """https, except plain http for loopback or private hosts when allow_private is on."""
    if not config.federation.allow_private:
        return "https"
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost":
        return "http"
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return "https"
    return "http" if not address.is_global else "https"


async def lookup(client: httpx.AsyncClient, config: Config, handle: Handle) -> str:
    """The actor URL a handle's server names (rel self, ActivityPub type); WebFingerError."""
    url = f"{scheme_for(config, handle.host)}://{handle.host}/.well-known/webfinger"
    try:
        response = await get_limited(
            client, url, params={"resource": handle.acct}, headers={"Accept": JRD_TYPE}
        )
    except httpx.HTTPError as error:
        raise WebFingerError(f"WebFinger of {handle} failed: {error}") from error
    if response.status_code != 200:
        raise WebFingerError(f"WebFinger of {handle} answered {response.status_code}")
    try:
        document = json.loads(response.content)
    except (ValueError, RecursionError):
        raise WebFingerError(f"WebFinger of {handle}: not JSON") from None
    return actor_link(document, handle)


def actor_link(document: Any, handle: Handle) -> str:
    """The rel=self ActivityPub link of a JRD; WebFingerError when there is none."""
    if not isinstance(document, dict) or not isinstance(document.get("links"), list):
        raise WebFingerError(f"WebFinger of {handle}: no links")
    for link in document["links"]:
        if not isinstance(link, dict) or link.get("rel") != "self":
            continue
        kind = str(link.get("type", "")).split(";")[0].strip().lower()
        href = link.get("href")
        if kind in {AP_TYPE, "application/ld+json"} and isinstance(href, str):
            parts = urlsplit(href)
            if parts.scheme in {"http", "https"} and parts.netloc:
                return href
    raise WebFingerError(f"WebFinger of {handle}: no ActivityPub actor link")
