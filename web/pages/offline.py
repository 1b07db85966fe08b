"""The service worker that keeps actions recorded without a connection (web/static/sw.js).

Served from the root, so its scope covers the action forms; never cached by the
browser's HTTP cache, so a new version is picked up at the next visit.
"""

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

WORKER = Path(__file__).parent.parent / "static" / "sw.js"


def service_worker(_request: Request) -> Response:
    """GET /sw.js."""
    return Response(
        WORKER.read_bytes(),
        media_type="text/javascript",
        headers={"cache-control": "no-cache", "service-worker-allowed": "/"},
    )


routes = [Route("/sw.js", service_worker, methods=["GET"])]
