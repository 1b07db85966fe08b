"""Outgoing HTTP that URLs chosen by others cannot turn against us (SSRF), and signed requests.

Every request made through ``make_client`` goes through ``GuardedTransport``:
only https, the host resolved once, every address checked (no loopback, private,
link-local, CGNAT, unique-local, multicast, reserved or cloud-metadata address)
and the connection made to the address that was checked. Redirects are followed
at most twice, each hop checked again. ``config.federation.allow_private`` lifts
the address and scheme checks (tests and the local demo only).
"""

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from federation import rfc9421, signatures
from instance.config import Config

AP_ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
AP_CONTENT_TYPE = "application/activity+json"
MAX_BYTES = 1_048_576
MAX_REDIRECTS = 2
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
TOTAL_TIMEOUT_FACTOR = 3
RETRY_CODES = frozenset({400, 401})
SCHEMES = ("cavage", "rfc9421")

_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddress(httpx.RequestError):
    """The URL is not https, or its host is (or resolves to) an address we never contact."""


class ResponseTooLarge(httpx.RequestError):
    """The response body is larger than allowed."""


def host_of(url: str) -> str:
    """The host (with its port when one is given) of a URL, lower-case: the key of PeerHost."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port is not None else host


def is_public_address(address: IPAddress) -> bool:
    """True for an address on the public internet (anything else is refused)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not is_public_address(embedded):
            return False
    return not (
        address in _METADATA
        or not address.is_global
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_loopback
        or address.is_link_local
        or address.is_private
    )


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address a host name resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise httpx.ConnectError(f"cannot resolve {host}: {error}") from None
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks scheme and addresses, then sends to the checked address through ``inner``."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, allow_private: bool) -> None:
        self.inner = inner
        self.allow_private = allow_private

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Refuse what must not be contacted; pin the connection to the checked address."""
        if self.allow_private:
            if request.url.scheme not in {"http", "https"}:
                raise BlockedAddress(f"scheme {request.url.scheme!r} refused", request=request)
            return await self.inner.handle_async_request(request)
        if request.url.scheme != "https":
            raise BlockedAddress("only https:// URLs are fetched", request=request)
        host = request.url.host
        addresses = await resolve(host, request.url.port or 443)
        if not addresses:
            raise BlockedAddress(f"{host} has no address", request=request)
        refused = [str(a) for a in addresses if not is_public_address(a)]
        if refused:
            raise BlockedAddress(f"{host} is a non-public address ({refused[0]})", request=request)
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=str(addresses[0])),
            headers=request.headers,
            stream=request.stream,
            extensions={**request.extensions, "sni_hostname": host},
        )
        return await self.inner.handle_async_request(pinned)

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self.inner.aclose()


def make_client(
    config: Config, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """An httpx client for federation: guarded transport, ≤ 2 redirects, configured timeouts.

    ``transport`` is the one that really sends (default: a plain AsyncHTTPTransport);
    the guard always wraps it.
    """
    inner = transport or httpx.AsyncHTTPTransport(retries=0)
    guarded = GuardedTransport(inner, allow_private=config.federation.allow_private)
    return httpx.AsyncClient(
        transport=guarded,
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        timeout=httpx.Timeout(config.federation.request_timeout),
        headers={"User-Agent": f"Benefed (+{config.base_url})"},
    )


async def read_limited(response: httpx.Response, limit: int = MAX_BYTES) -> bytes:
    """The body of a response, refusing (ResponseTooLarge) one larger than limit."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        await response.aclose()
        raise ResponseTooLarge(f"response of {declared} bytes refused", request=response.request)
    if response.is_stream_consumed:
        if len(response.content) > limit:
            raise ResponseTooLarge("response too large", request=response.request)
        return response.content
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise ResponseTooLarge("response too large", request=response.request)
            chunks.append(chunk)
    finally:
        await response.aclose()
    return b"".join(chunks)


async def send_limited(
    client: httpx.AsyncClient, request: httpx.Request, *, limit: int = MAX_BYTES
) -> httpx.Response:
    """Send one request (no redirect followed); the response's body is read within limit.

    Besides httpx's per-operation timeouts, the whole exchange must end within
    ``TOTAL_TIMEOUT_FACTOR`` times the read timeout (a server dripping bytes is cut off).
    """
    total = (client.timeout.read or 10.0) * TOTAL_TIMEOUT_FACTOR
    try:
        async with asyncio.timeout(total):
            response = await client.send(request, stream=True, follow_redirects=False)
            body = await read_limited(response, limit)
    except TimeoutError:
        raise httpx.ReadTimeout(f"no complete answer within {total:g} s", request=request) from None
    headers = [
        (name, value)
        for name, value in response.headers.multi_items()
        if name.lower() not in {"content-encoding", "content-length", "transfer-encoding"}
    ]
    return httpx.Response(response.status_code, headers=headers, content=body, request=request)


async def get_limited(
    client: httpx.AsyncClient,
    url: str,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    limit: int = MAX_BYTES,
) -> httpx.Response:
    """An unsigned GET (WebFinger, NodeInfo): at most 2 redirects, each checked; body within limit."""
    current = str(httpx.URL(url, params=params))
    for _hop in range(MAX_REDIRECTS + 1):
        request = client.build_request("GET", current, headers=headers)
        response = await send_limited(client, request, limit=limit)
        location = response.headers.get("location")
        if response.status_code not in REDIRECT_CODES or not location:
            return response
        current = urljoin(current, location)
    raise httpx.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects", request=response.request)


def http_date(now: datetime | None = None) -> str:
    """An IMF-fixdate (RFC 9110) for the Date header."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")


def _other(scheme: str) -> str:
    return "rfc9421" if scheme == "cavage" else "cavage"


def _sign(
    request: httpx.Request,
    scheme: str,
    *,
    key_id: str,
    private_key: RSAPrivateKey,
    body: bytes,
    now: datetime,
) -> None:
    """Add the signature headers of one scheme to a request built by httpx."""
    signer: Callable[..., dict[str, str]]
    signer = rfc9421.sign_request if scheme == "rfc9421" else signatures.sign_request
    added = signer(
        method=request.method,
        url=str(request.url),
        headers=dict(request.headers),
        body=body,
        key_id=key_id,
        private_key=private_key,
        now=now,
    )
    for name, value in added.items():
        request.headers[name] = value


def _build(
    client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], body: bytes | None
) -> httpx.Request:
    request = client.build_request(method, url, headers=headers, content=body)
    request.headers["Host"] = request.url.netloc.decode("ascii")
    return request


async def signed_get(
    client: httpx.AsyncClient,
    url: str,
    *,
    key_id: str,
    private_key: RSAPrivateKey,
    accept: str = AP_ACCEPT,
    now: datetime | None = None,
    limit: int = MAX_BYTES,
) -> httpx.Response:
    """A GET signed with draft-cavage (retried once with RFC 9421 on 400/401).

    Redirects are followed at most twice, each hop checked and signed again.
    The returned response's body is already read (at most ``limit`` bytes).
    """
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        response = await _signed_once(
            client, "GET", current, None, key_id, private_key, accept, "cavage", now, limit
        )
        if response.status_code in RETRY_CODES:
            response = await _signed_once(
                client, "GET", current, None, key_id, private_key, accept, "rfc9421", now, limit
            )
        location = response.headers.get("location")
        if response.status_code not in REDIRECT_CODES or not location:
            return response
        current = urljoin(current, location)
    raise httpx.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects", request=response.request)


async def signed_post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    *,
    key_id: str,
    private_key: RSAPrivateKey,
    scheme: str | None,
    now: datetime | None = None,
) -> tuple[httpx.Response, str]:
    """POST an activity, signed; returns the response and the scheme it was signed with.

    The first knock is draft-cavage unless ``scheme`` is "rfc9421"; on 400/401 it is
    retried once with the other scheme. No redirect is followed.
    """
    first = "rfc9421" if scheme == "rfc9421" else "cavage"
    response = await _signed_once(
        client, "POST", url, body, key_id, private_key, AP_ACCEPT, first, now, MAX_BYTES
    )
    if response.status_code not in RETRY_CODES:
        return response, first
    second = _other(first)
    response = await _signed_once(
        client, "POST", url, body, key_id, private_key, AP_ACCEPT, second, now, MAX_BYTES
    )
    return response, second


async def _signed_once(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    body: bytes | None,
    key_id: str,
    private_key: RSAPrivateKey,
    accept: str,
    scheme: str,
    now: datetime | None,
    limit: int,
) -> httpx.Response:
    moment = now or datetime.now(UTC)
    headers: dict[str, Any] = {"Accept": accept, "Date": http_date(moment)}
    if body is not None:
        headers["Content-Type"] = AP_CONTENT_TYPE
    request = _build(client, method, url, headers, body)
    _sign(request, scheme, key_id=key_id, private_key=private_key, body=body or b"", now=moment)
    return await send_limited(client, request, limit=limit)


def is_activitypub_type(content_type: str) -> bool:
    """True for application/activity+json, or application/ld+json with the AS2 profile."""
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if media == "application/activity+json":
        return True
    if media != "application/ld+json":
        return False
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "profile":
            profiles = value.strip().strip('"').split()
            return "https://www.w3.org/ns/activitystreams" in profiles
    return False
