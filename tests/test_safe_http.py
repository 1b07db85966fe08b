"""Outgoing HTTP: SSRF guard, redirects, size and type limits, signed GET/POST, remote actors."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlmodel import select
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from federation import actor_keys, keys, rfc9421, safe_http, signatures, webfinger
from federation.actor_documents import ed25519_keys, revoked_keys
from federation.remote_actors import (
    RemoteActorError,
    RemoteActorGone,
    actor_for_key_id,
    fetch_actor,
    resolve_handle,
)
from federation.safe_http import BlockedAddress, ResponseTooLarge, make_client, read_limited
from instance.config import Config
from schema.db import Database
from schema.tables import RemoteActor
from schema.tables._base import utcnow
from tests.conftest import make_config
from tests.live import free_port

AP = "application/activity+json"
MiB = 1024 * 1024
Handler = Callable[[Request, bytes], Response]


@dataclass
class Peer:
    """A real HTTP server (uvicorn on 127.0.0.1) answering what the test sets."""

    port: int
    routes: dict[str, Handler] = field(default_factory=dict)
    seen: list[tuple[Request, bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await request.body()
        self.seen.append((request, body))
        handler = self.routes.get(request.url.path)
        response = handler(request, body) if handler else Response("nope", status_code=404)
        await response(scope, receive, send)


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    found = Peer(port=free_port())
    server = uvicorn.Server(
        uvicorn.Config(
            found, host="127.0.0.1", port=found.port, log_level="warning", lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield found
    server.should_exit = True
    await task


@pytest.fixture
def open_config(tmp_path: Path) -> Config:
    """allow_private on, as in tests and the local demo."""
    return make_config(tmp_path, federation={"allow_private": True, "request_timeout": 5})


@pytest.fixture
def strict_config(tmp_path: Path) -> Config:
    """The production setting: https and public addresses only."""
    return make_config(tmp_path)


def json_response(document: Any, content_type: str = AP, status: int = 200) -> Response:
    return Response(json.dumps(document), status_code=status, media_type=content_type)


# --- the guard ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scheme_host", ["http://127.0.0.1", "https://127.0.0.1", "https://localhost"]
)
async def test_loopback_is_refused_and_never_reached(
    peer: Peer, strict_config: Config, scheme_host: str
) -> None:
    peer.routes["/x"] = lambda _r, _b: Response("hello")
    async with make_client(strict_config) as client:
        with pytest.raises(BlockedAddress):
            await client.get(f"{scheme_host}:{peer.port}/x")
    assert peer.seen == []


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/",
        "https://10.255.1.2:8443/x",
        "https://172.16.0.1/",
        "https://192.168.1.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/",
        "https://[::1]/",
        "https://[fd00::1]/",
        "https://[fd00:ec2::254]/",
        "https://[fe80::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[64:ff9b::a00:1]/",
        "https://224.0.0.1/",
        "https://0.0.0.0/",
        "https://240.0.0.1/",
        "http://93.184.216.34/",
        "ftp://93.184.216.34/",
    ],
)
async def test_private_addresses_and_plain_http_are_refused(
    strict_config: Config, url: str
) -> None:
    sent: list[httpx.Request] = []
    inner = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(200))
    async with make_client(strict_config, transport=inner) as client:
        with pytest.raises((BlockedAddress, httpx.UnsupportedProtocol)):
            await client.get(url)
    assert sent == []


async def test_connection_goes_to_the_checked_address(
    strict_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fake_resolve(host: str, port: int) -> list[Any]:
        table = {
            "public.example": ["93.184.216.34"],
            "mixed.example": ["93.184.216.34", "10.0.0.7"],
        }
        return [safe_http.ipaddress.ip_address(a) for a in table[host]]

    monkeypatch.setattr(safe_http, "resolve", fake_resolve)
    sent: list[httpx.Request] = []
    inner = httpx.MockTransport(
        lambda request: sent.append(request) or httpx.Response(200, text="ok")
    )
    async with make_client(strict_config, transport=inner) as client:
        response = await client.get("https://public.example/path?q=1")
        assert response.text == "ok"
        with pytest.raises(BlockedAddress):
            await client.get("https://mixed.example/")
    assert len(sent) == 1
    assert sent[0].url.host == "93.184.216.34"
    assert sent[0].url.raw_path == b"/path?q=1"
    assert sent[0].headers["host"] == "public.example"
    assert sent[0].extensions["sni_hostname"] == "public.example"


async def test_redirect_to_a_private_address_is_refused(strict_config: Config) -> None:
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return httpx.Response(302, headers={"Location": "https://169.254.169.254/latest/"})

    async with make_client(strict_config, transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(BlockedAddress):
            await client.get("https://93.184.216.34/start")
        key_id, private = "https://x.example/actor#main-key", keys.generate_rsa()
        with pytest.raises(BlockedAddress):
            await safe_http.signed_get(
                client, "https://93.184.216.34/start", key_id=key_id, private_key=private
            )
    assert sent == ["https://93.184.216.34/start"] * 2


async def test_allow_private_lets_local_requests_through(peer: Peer, open_config: Config) -> None:
    peer.routes["/x"] = lambda _r, _b: Response("hello")
    async with make_client(open_config) as client:
        response = await client.get(f"{peer.url}/x")
    assert response.text == "hello"
    assert len(peer.seen) == 1


def redirect_chain(peer: Peer, length: int) -> None:
    for step in range(length):
        peer.routes[f"/hop{step}"] = lambda _r, _b, step=step: Response(
            status_code=302, headers={"Location": f"/hop{step + 1}"}
        )
    peer.routes[f"/hop{length}"] = lambda _r, _b: json_response({"id": "end"})


async def test_at_most_two_redirects(peer: Peer, open_config: Config) -> None:
    key_id, private = f"{peer.url}/actor#main-key", keys.generate_rsa()
    redirect_chain(peer, 3)
    async with make_client(open_config) as client:
        response = await client.get(f"{peer.url}/hop1")
        assert response.json() == {"id": "end"}
        signed = await safe_http.signed_get(
            client, f"{peer.url}/hop1", key_id=key_id, private_key=private
        )
        assert signed.json() == {"id": "end"} and str(signed.url) == f"{peer.url}/hop3"
        with pytest.raises(httpx.TooManyRedirects):
            await client.get(f"{peer.url}/hop0")
        with pytest.raises(httpx.TooManyRedirects):
            await safe_http.signed_get(
                client, f"{peer.url}/hop0", key_id=key_id, private_key=private
            )
    hops = [request.url.path for request, _ in peer.seen]
    assert hops.count("/hop3") == 2 and "/hop4" not in hops


@pytest.mark.parametrize("declared", [True, False])
async def test_large_responses_are_refused(peer: Peer, open_config: Config, declared: bool) -> None:
    big = b"x" * (2 * 1024 * 1024)

    def answer(_request: Request, _body: bytes) -> Response:
        if declared:
            return Response(big, media_type=AP)

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(big), 65536):
                yield big[start : start + 65536]

        return StreamingResponse(chunks(), media_type=AP)

    peer.routes["/big"] = answer
    peer.routes["/small"] = lambda _r, _b: Response(b"y" * 1000, media_type=AP)
    key_id, private = f"{peer.url}/actor#main-key", keys.generate_rsa()
    async with make_client(open_config) as client:
        with pytest.raises(ResponseTooLarge):
            await safe_http.signed_get(
                client, f"{peer.url}/big", key_id=key_id, private_key=private
            )
        async with client.stream("GET", f"{peer.url}/big") as streamed:
            with pytest.raises(ResponseTooLarge):
                await read_limited(streamed)
        small = await safe_http.signed_get(
            client, f"{peer.url}/small", key_id=key_id, private_key=private
        )
        assert len(small.content) == 1000


def test_host_of() -> None:
    assert safe_http.host_of("https://Example.ORG/x") == "example.org"
    assert safe_http.host_of("http://127.0.0.1:8000/a") == "127.0.0.1:8000"
    assert safe_http.host_of("https://[::1]:8443/") == "[::1]:8443"
    assert safe_http.host_of("https://user@host.example/") == "host.example"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (AP, True),
        ("application/activity+json; charset=utf-8", True),
        ('application/ld+json; profile="https://www.w3.org/ns/activitystreams"', True),
        ("application/ld+json", False),
        ("application/json", False),
        ("text/html", False),
        ("", False),
    ],
)
def test_activitypub_content_types(value: str, expected: bool) -> None:
    assert safe_http.is_activitypub_type(value) is expected


# --- signed requests ---------------------------------------------------------------------


def verify(request: Request, body: bytes, public: Any) -> str:
    """Which scheme signed the request (raises SignatureError when neither verifies)."""
    headers = dict(request.headers)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if rfc9421.is_rfc9421(headers):
        rfc9421.verify_request(request.method, str(request.url), headers, body, public, utcnow())
        return "rfc9421"
    signatures.verify_request(request.method, target, headers, body, public, utcnow())
    return "cavage"


async def test_signed_post_double_knocks_and_reports_the_scheme(
    peer: Peer, open_config: Config
) -> None:
    private = keys.generate_rsa()
    public = private.public_key()
    schemes: list[str] = []

    def only_rfc9421(request: Request, body: bytes) -> Response:
        scheme = verify(request, body, public)
        schemes.append(scheme)
        return Response(status_code=202 if scheme == "rfc9421" else 401)

    def any_scheme(request: Request, body: bytes) -> Response:
        schemes.append(verify(request, body, public))
        return Response(status_code=202)

    peer.routes["/strict/inbox"] = only_rfc9421
    peer.routes["/inbox"] = any_scheme
    body = b'{"type":"Follow"}'
    key_id = f"{peer.url}/actor#main-key"
    async with make_client(open_config) as client:
        response, scheme = await safe_http.signed_post(
            client,
            f"{peer.url}/strict/inbox",
            body,
            key_id=key_id,
            private_key=private,
            scheme=None,
        )
        assert (response.status_code, scheme) == (202, "rfc9421")
        response, scheme = await safe_http.signed_post(
            client, f"{peer.url}/inbox", body, key_id=key_id, private_key=private, scheme=None
        )
        assert (response.status_code, scheme) == (202, "cavage")
        response, scheme = await safe_http.signed_post(
            client, f"{peer.url}/inbox", body, key_id=key_id, private_key=private, scheme="rfc9421"
        )
        assert (response.status_code, scheme) == (202, "rfc9421")
    assert schemes == ["cavage", "rfc9421", "cavage", "rfc9421"]
    posted = [request for request, _ in peer.seen]
    assert all(r.headers["content-type"] == AP for r in posted)
    assert all(r.method == "POST" for r in posted)


async def test_signed_get_retries_with_rfc9421(peer: Peer, open_config: Config) -> None:
    private = keys.generate_rsa()
    schemes: list[str] = []

    def strict(request: Request, body: bytes) -> Response:
        scheme = verify(request, body, private.public_key())
        schemes.append(scheme)
        return json_response({"ok": scheme}) if scheme == "rfc9421" else Response(status_code=401)

    peer.routes["/doc"] = strict
    async with make_client(open_config) as client:
        response = await safe_http.signed_get(
            client,
            f"{peer.url}/doc?page=2",
            key_id=f"{peer.url}/actor#main-key",
            private_key=private,
        )
    assert response.json() == {"ok": "rfc9421"}
    assert schemes == ["cavage", "rfc9421"]
    first = peer.seen[0][0]
    assert 'headers="(request-target) host date"' in first.headers["signature"]
    assert first.headers["accept"].startswith(AP)


# --- remote actors -----------------------------------------------------------------------


def actor_doc(url: str, *, pem: str, multikey: str | None = None, **extra: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": url,
        "type": "Person",
        "preferredUsername": "bob",
        "name": "Bob",
        "inbox": f"{url}/inbox",
        "endpoints": {"sharedInbox": url.rsplit("/", 2)[0] + "/inbox"},
        "publicKey": {"id": f"{url}#main-key", "owner": url, "publicKeyPem": pem},
    }
    if multikey:
        document["assertionMethod"] = [
            {
                "id": f"{url}#ed",
                "type": "Multikey",
                "controller": url,
                "publicKeyMultibase": multikey,
            },
            {
                "id": f"{url}#ed-old",
                "type": "Multikey",
                "controller": url,
                "publicKeyMultibase": multikey,
                "revoked": "2026-01-02T03:04:05Z",
            },
            {
                "id": "https://evil.example/k",
                "type": "Multikey",
                "controller": url,
                "publicKeyMultibase": multikey,
            },
        ]
    document.update(extra)
    return document


@pytest.fixture
def remote_pem() -> str:
    return keys.rsa_public_pem(keys.generate_rsa())


async def test_fetch_actor_stores_caches_and_signs(
    peer: Peer, open_config: Config, db: Database, remote_pem: str
) -> None:
    url = f"{peer.url}/users/bob"
    multikey = keys.ed25519_multikey(keys.generate_ed25519())
    peer.routes["/users/bob"] = lambda _r, _b: json_response(
        actor_doc(url, pem=remote_pem, multikey=multikey)
    )
    async with make_client(open_config) as client:
        actor = await fetch_actor(db, client, open_config, url)
        again = await fetch_actor(db, client, open_config, url + "#main-key")
        assert len(peer.seen) == 1 and again.id == actor.id
        await fetch_actor(db, client, open_config, url, force=True)
        assert len(peer.seen) == 2
    assert actor.inbox == f"{url}/inbox" and actor.shared_inbox == f"{peer.url}/inbox"
    assert actor.public_key_id == f"{url}#main-key" and actor.public_key_pem == remote_pem
    assert actor.host == f"127.0.0.1:{peer.port}" and actor.type == "Person"
    assert set(ed25519_keys(actor)) == {f"{url}#ed", f"{url}#ed-old"}
    assert revoked_keys(actor)[f"{url}#ed-old"].year == 2026
    request, body = peer.seen[0]
    with db.read() as session:
        row = actor_keys.current_key(session, "instance", None, "rsa")
    assert row is not None and request.headers["signature"].startswith(f'keyId="{row.key_id}"')
    verify(request, body, keys.parse_rsa_public_pem(row.public_key))


@pytest.mark.parametrize(
    "case",
    ["id_mismatch", "html", "plain_json", "ld_without_profile", "graph", "included", "not_actor",
     "foreign_inbox", "not_json", "array", "status_500", "deep"],
)  # fmt: skip
async def test_fetch_actor_refuses_bad_documents(
    peer: Peer, open_config: Config, db: Database, remote_pem: str, case: str
) -> None:
    url = f"{peer.url}/users/bob"
    document = actor_doc(url, pem=remote_pem)
    content_type = AP
    body: bytes | None = None
    status = 200
    if case == "id_mismatch":
        document["id"] = f"{peer.url}/users/mallory"
    elif case == "html":
        content_type = "text/html"
    elif case == "plain_json":
        content_type = "application/json"
    elif case == "ld_without_profile":
        content_type = "application/ld+json"
    elif case == "graph":
        document["@graph"] = [{"id": url}]
    elif case == "included":
        document["publicKey"]["@included"] = {"id": "x"}
    elif case == "not_actor":
        document["type"] = "Note"
    elif case == "foreign_inbox":
        document["inbox"] = "http://victim.example/inbox"
    elif case == "not_json":
        body = b"{not json"
    elif case == "array":
        body = b"[]"
    elif case == "status_500":
        status = 500
    elif case == "deep":
        body = json.dumps({**document, "x": json.loads("[" * 100 + "]" * 100)}).encode()
    payload = body if body is not None else json.dumps(document).encode()
    peer.routes["/users/bob"] = lambda _r, _b: Response(
        payload, status_code=status, media_type=content_type
    )
    async with make_client(open_config) as client:
        with pytest.raises(RemoteActorError):
            await fetch_actor(db, client, open_config, url)
    with db.read() as session:
        assert session.exec(select(RemoteActor)).all() == []


async def test_fetch_actor_refuses_another_origin(
    peer: Peer, open_config: Config, db: Database, remote_pem: str
) -> None:
    url = f"{peer.url}/users/bob"
    other = f"http://localhost:{peer.port}/users/bob"
    peer.routes["/users/bob"] = lambda request, _b: (
        Response(status_code=302, headers={"Location": other})
        if request.url.hostname == "127.0.0.1"
        else json_response(actor_doc(url, pem=remote_pem))
    )
    async with make_client(open_config) as client:
        with pytest.raises(RemoteActorError, match="another origin"):
            await fetch_actor(db, client, open_config, url)
        with pytest.raises(RemoteActorError):
            await fetch_actor(db, client, open_config, other)


async def test_gone_actor_is_marked(
    peer: Peer, open_config: Config, db: Database, remote_pem: str
) -> None:
    url = f"{peer.url}/users/bob"
    peer.routes["/users/bob"] = lambda _r, _b: json_response(actor_doc(url, pem=remote_pem))
    async with make_client(open_config) as client:
        await fetch_actor(db, client, open_config, url)
        peer.routes["/users/bob"] = lambda _r, _b: json_response({"type": "Tombstone"}, status=410)
        with pytest.raises(RemoteActorGone):
            await fetch_actor(db, client, open_config, url, force=True)
    with db.read() as session:
        assert session.exec(select(RemoteActor)).one().is_gone


async def test_expired_cache_is_fetched_again(
    peer: Peer, open_config: Config, db: Database, remote_pem: str
) -> None:
    url = f"{peer.url}/users/bob"
    peer.routes["/users/bob"] = lambda _r, _b: json_response(actor_doc(url, pem=remote_pem))
    async with make_client(open_config) as client:
        actor = await fetch_actor(db, client, open_config, url)
        with db.write() as session:
            row = session.get(RemoteActor, actor.id)
            assert row is not None
            row.expires_at = utcnow() - timedelta(seconds=1)
            session.add(row)
        await fetch_actor(db, client, open_config, url)
    assert len(peer.seen) == 2


async def test_actor_for_key_id_with_fragment(
    peer: Peer, open_config: Config, db: Database, remote_pem: str
) -> None:
    url = f"{peer.url}/users/bob"
    peer.routes["/users/bob"] = lambda _r, _b: json_response(actor_doc(url, pem=remote_pem))
    async with make_client(open_config) as client:
        actor = await actor_for_key_id(db, client, open_config, f"{url}#main-key")
        assert actor.uri == url
        cached = await actor_for_key_id(db, client, open_config, f"{url}#main-key")
        assert cached.id == actor.id and len(peer.seen) == 1
        with pytest.raises(RemoteActorError):
            await actor_for_key_id(db, client, open_config, f"{url}#other-key")


async def test_actor_for_stand_alone_key_document(
    peer: Peer, open_config: Config, db: Database, remote_pem: str
) -> None:
    url = f"{peer.url}/users/bob"
    key_url = f"{url}/main-key"
    document = actor_doc(url, pem=remote_pem)
    document["publicKey"]["id"] = key_url
    key_doc = {"id": key_url, "type": "Key", "owner": url, "publicKeyPem": remote_pem}
    peer.routes["/users/bob"] = lambda _r, _b: json_response(document)
    peer.routes["/users/bob/main-key"] = lambda _r, _b: json_response(key_doc)
    async with make_client(open_config) as client:
        actor = await actor_for_key_id(db, client, open_config, key_url)
        assert actor.uri == url and actor.public_key_id == key_url
        # A key document whose owner does not name it back is refused.
        peer.routes["/users/bob/spare-key"] = lambda _r, _b: json_response(
            {**key_doc, "id": f"{url}/spare-key"}
        )
        with pytest.raises(RemoteActorError):
            await actor_for_key_id(db, client, open_config, f"{url}/spare-key")
        # An owner on another origin is refused.
        peer.routes["/users/bob/foreign-key"] = lambda _r, _b: json_response(
            {**key_doc, "id": f"{url}/foreign-key", "owner": "http://localhost:1/users/bob"}
        )
        with pytest.raises(RemoteActorError):
            await actor_for_key_id(db, client, open_config, f"{url}/foreign-key")


@pytest.mark.parametrize("key_id", ["", "not a url", "ftp://x/y", "mailto:a@b"])
async def test_actor_for_key_id_refuses_garbage(
    open_config: Config, db: Database, key_id: str
) -> None:
    async with make_client(open_config) as client:
        with pytest.raises(RemoteActorError):
            await actor_for_key_id(db, client, open_config, key_id)


# --- unsigned GET, WebFinger and handles ---------------------------------------------------


async def test_slow_drip_is_cut_off(peer: Peer, tmp_path: Path) -> None:
    config = make_config(tmp_path, federation={"allow_private": True, "request_timeout": 0.3})

    async def drip() -> AsyncIterator[bytes]:
        for _ in range(100):
            await asyncio.sleep(0.1)
            yield b"x"

    peer.routes["/drip"] = lambda _r, _b: StreamingResponse(drip(), media_type=AP)
    started = asyncio.get_running_loop().time()
    async with make_client(config) as client:
        with pytest.raises(httpx.ReadTimeout):
            await safe_http.get_limited(client, f"{peer.url}/drip")
    assert asyncio.get_running_loop().time() - started < 3


async def test_get_limited_follows_two_redirects_at_most(peer: Peer, open_config: Config) -> None:
    redirect_chain(peer, 3)
    peer.routes["/huge"] = lambda _r, _b: Response(b"z" * (MiB + 1))
    async with make_client(open_config) as client:
        response = await safe_http.get_limited(client, f"{peer.url}/hop1", params={"a": "b c"})
        assert response.json() == {"id": "end"}
        with pytest.raises(httpx.TooManyRedirects):
            await safe_http.get_limited(client, f"{peer.url}/hop0")
        with pytest.raises(ResponseTooLarge):
            await safe_http.get_limited(client, f"{peer.url}/huge")
    assert peer.seen[0][0].query_params["a"] == "b c"


def jrd(subject: str, href: str | None, kind: str = AP) -> dict[str, Any]:
    links = [{"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": "x"}]
    if href is not None:
        links.append({"rel": "self", "type": kind, "href": href})
    return {"subject": subject, "links": links}


async def test_resolve_handle_by_webfinger(
    peer: Peer, open_config: Config, db: Database, remote_pem: str
) -> None:
    host = f"127.0.0.1:{peer.port}"
    url = f"{peer.url}/users/bob"
    answers = {
        f"acct:bob@{host}": jrd(f"acct:bob@{host}", url),
        f"acct:nolink@{host}": jrd(f"acct:nolink@{host}", None),
        f"acct:html@{host}": jrd(f"acct:html@{host}", url, "text/html"),
        f"acct:elsewhere@{host}": jrd(
            f"acct:elsewhere@{host}", f"http://localhost:{peer.port}/users/bob"
        ),
    }

    def finger(request: Request, _body: bytes) -> Response:
        found = answers.get(request.query_params.get("resource", ""))
        return json_response(found, "application/jrd+json") if found else Response(status_code=404)

    peer.routes["/.well-known/webfinger"] = finger
    peer.routes["/users/bob"] = lambda request, _b: json_response(
        actor_doc(f"{request.url.scheme}://{request.url.netloc}/users/bob", pem=remote_pem)
    )
    async with make_client(open_config) as client:
        actor = await resolve_handle(db, client, open_config, f"@bob@{host}")
        assert actor.uri == url and actor.preferred_username == "bob"
        for bad in (
            f"nolink@{host}",
            f"html@{host}",
            f"nobody@{host}",
            "garbage",
            "bob@testserver",
        ):
            with pytest.raises(RemoteActorError):
                await resolve_handle(db, client, open_config, bad)
        # The actor lives on another host than the handle, and that host does not confirm it.
        with pytest.raises(RemoteActorError, match="confirm"):
            await resolve_handle(db, client, open_config, f"elsewhere@{host}")
        # Once it does (split domains), the handle resolves.
        moved = f"http://localhost:{peer.port}/users/bob"
        answers[f"acct:bob@localhost:{peer.port}"] = jrd(f"acct:bob@localhost:{peer.port}", moved)
        elsewhere = await resolve_handle(db, client, open_config, f"elsewhere@{host}")
        assert elsewhere.uri == moved
        direct = await resolve_handle(db, client, open_config, url)
        assert direct.id == actor.id


def test_webfinger_scheme_choice(open_config: Config, strict_config: Config) -> None:
    assert webfinger.scheme_for(strict_config, "127.0.0.1:8000") == "https"
    assert webfinger.scheme_for(open_config, "127.0.0.1:8000") == "http"
    assert webfinger.scheme_for(open_config, "localhost:8000") == "http"
    assert webfinger.scheme_for(open_config, "mastodon.example") == "https"
