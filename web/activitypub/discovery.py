"""Discovery: WebFinger, host-meta and NodeInfo (public, unsigned, readable from anywhere)."""

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from federation import nodeinfo, webfinger
from federation.documents import ActorGone
from instance.errors import NotFound
from web.problems import problem
from web.services import services

CORS = {"Access-Control-Allow-Origin": "*"}


def _json(document: dict[str, Any], media_type: str) -> Response:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(body, media_type=media_type, headers=CORS)


def webfinger_view(request: Request) -> Response:
    """The JRD of an acct:, actor URL or instance root resource."""
    found = services(request)
    resources = request.query_params.getlist("resource")
    if len(resources) != 1 or not resources[0].strip():
        return problem(400, "Give exactly one resource parameter.", headers=CORS)
    try:
        with found.db.read() as session:
            document = webfinger.jrd_for(session, found.config, resources[0].strip())
    except webfinger.ResourceError as error:
        return problem(400, str(error), headers=CORS)
    except NotFound:
        return problem(404, "No such resource here.", headers=CORS)
    except ActorGone:
        return problem(410, "This actor is gone.", title="Gone", headers=CORS)
    return _json(document, webfinger.JRD_TYPE)


def host_meta(request: Request) -> Response:
    """The host-meta XRD with the WebFinger template."""
    config = services(request).config
    if not config.federation.enabled:
        return problem(404, "Federation is off.")
    return Response(webfinger.host_meta(config), media_type="application/xrd+xml", headers=CORS)


def nodeinfo_links(request: Request) -> Response:
    """/.well-known/nodeinfo: where the 2.1 document and the instance actor are."""
    config = services(request).config
    if not config.federation.enabled:
        return problem(404, "Federation is off.")
    return _json(nodeinfo.discovery_document(config), "application/json")


def nodeinfo_document(request: Request) -> Response:
    """The NodeInfo 2.1 document."""
    found = services(request)
    if not found.config.federation.enabled:
        return problem(404, "Federation is off.")
    with found.db.read() as session:
        document = nodeinfo.nodeinfo_document(session, found.config)
    response = _json(document, "application/json")
    response.headers["Content-Type"] = nodeinfo.CONTENT_TYPE
    return response


routes = [
    Route("/.well-known/webfinger", webfinger_view, methods=["GET", "HEAD"]),
    Route("/.well-known/host-meta", host_meta, methods=["GET", "HEAD"]),
    Route("/.well-known/nodeinfo", nodeinfo_links, methods=["GET", "HEAD"]),
    Route("/nodeinfo/2.1", nodeinfo_document, methods=["GET", "HEAD"]),
]
