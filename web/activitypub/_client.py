"""The app's outgoing federation client (SSRF-guarded), made on first use."""

import httpx
from starlette.requests import HTTPConnection

from federation import safe_http
from web.services import services

CLIENT_KEY = "federation_client"
TRANSPORT_KEY = "http_transport"


def federation_client(connection: HTTPConnection) -> httpx.AsyncClient:
    """The shared client of this app (tests put a transport in services.extras["http_transport"])."""
    found = services(connection)
    client = found.extras.get(CLIENT_KEY)
    if client is None or client.is_closed:
        client = safe_http.make_client(found.config, transport=found.extras.get(TRANSPORT_KEY))
        found.extras[CLIENT_KEY] = client
    return client
