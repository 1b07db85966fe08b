"""In-process federation: several Benefed apps and fake remote servers behind one router.

``Router`` is an httpx transport sending each request to the ASGI app of its host,
so instance A's worker really POSTs to instance B's inbox, signatures and all,
without sockets. ``FakeServer`` is a remote server we control completely: it
serves actor documents and signs requests with its own keys.
"""

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette

from federation import keys, rfc9421, safe_http, signatures, worker
from instance.config import Config
from instance.mail import Mailer
from schema.db import Database
from schema.tables._base import utcnow
from tests.conftest import database_url, fresh_database, make_config
from tests.live import cli_env, free_port
from web.app import build_services, create_app
from web.negotiation import ActivityPubNegotiation
from web.services import Services

AS2 = "https://www.w3.org/ns/activitystreams"


class Router(httpx.AsyncBaseTransport):
    """Sends each request to the handler registered for its host (else 502 / an error)."""

    def __init__(self) -> None:
        self.hosts: dict[str, httpx.AsyncBaseTransport] = {}
        self.down: set[str] = set()
        self.log: list[httpx.Request] = []

    def add(self, host: str, transport: httpx.AsyncBaseTransport) -> None:
        """Serve a host with a transport (an ASGITransport or a MockTransport)."""
        self.hosts[host] = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Route by host; a host marked down refuses the connection."""
        host = request.url.netloc.decode()
        self.log.append(request)
        if host in self.down:
            raise httpx.ConnectError(f"{host} is down", request=request)
        target = self.hosts.get(host)
        if target is None:
            raise httpx.ConnectError(f"no route to {host}", request=request)
        return await target.handle_async_request(request)


@dataclass
class Instance:
    """One Benefed instance in-process."""

    name: str
    config: Config
    services: Services
    app: Starlette
    router: Router

    @property
    def db(self) -> Database:
        """Its database."""
        return self.services.db

    @property
    def url(self) -> str:
        """Its base URL."""
        return self.config.base_url

    def client(self) -> httpx.AsyncClient:
        """A federation client of this instance (through the router)."""
        return safe_http.make_client(self.config, transport=self.router)

    def browser(self) -> httpx.AsyncClient:
        """A client talking to this instance's app directly."""
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url=self.url)

    async def work(self, *, now: datetime | None = None, rounds: int = 1) -> int:
        """Run worker rounds (process the inbox, deliver); the work done."""
        done = 0
        async with self.client() as client:
            for _round in range(rounds):
                done += await worker.work_once(
                    self.db, client, self.config, now=now or utcnow(), worker_id=self.name
                )
        return done


def make_instance(
    tmp_path: Path, name: str, router: Router, *, shared_db: bool = False, **overrides: Any
) -> Instance:
    """An instance at http://{name}.test (SQLite unless shared_db: the test database)."""
    directory = tmp_path / name
    directory.mkdir(parents=True, exist_ok=True)
    url = database_url(directory) if shared_db else f"sqlite:///{directory / 'benefed.db'}"
    federation = {"allow_private": True, **overrides.pop("federation", {})}
    config = make_config(
        directory,
        base_url=f"http://{name}.test",
        database_url=url,
        federation=federation,
        **overrides,
    )
    found = build_services(config, mailer=Mailer(config.email, config.site_name))
    found.db.dispose()
    found.db = fresh_database(config.database_url)
    found.extras["http_transport"] = router
    app = create_app(config, services=found)
    if not any(m.cls is ActivityPubNegotiation for m in app.user_middleware):
        app.add_middleware(ActivityPubNegotiation)  # until web/app.py installs it
    router.add(f"{name}.test", httpx.ASGITransport(app=app, raise_app_exceptions=False))
    return Instance(name=name, config=config, services=found, app=app, router=router)


@dataclass
class FakeActor:
    """A remote actor we hold the key of."""

    uri: str
    key: rsa.RSAPrivateKey
    key_id: str
    inbox: str
    shared_inbox: str = ""
    kind: str = "Person"

    def document(self) -> dict[str, Any]:
        """Its actor document."""
        name = self.uri.rsplit("/", 1)[-1]
        doc: dict[str, Any] = {
            "@context": [AS2, "https://w3id.org/security/v1"],
            "id": self.uri,
            "type": self.kind,
            "preferredUsername": name,
            "inbox": self.inbox,
            "publicKey": {
                "id": self.key_id,
                "owner": self.uri,
                "publicKeyPem": keys.rsa_public_pem(self.key),
            },
        }
        if self.shared_inbox:
            doc["endpoints"] = {"sharedInbox": self.shared_inbox}
        return doc


_KEYS: list[rsa.RSAPrivateKey] = []


def cached_key(index: int = 0) -> rsa.RSAPrivateKey:
    """A cached RSA key (making keys is slow)."""
    while len(_KEYS) <= index:
        _KEYS.append(keys.generate_rsa())
    return _KEYS[index]


@dataclass
class FakeServer:
    """A remote server: serves its actors' documents, records what it receives."""

    host: str
    actors: dict[str, FakeActor] = field(default_factory=dict)
    received: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    answer: Callable[[httpx.Request], httpx.Response | None] | None = None
    gone: set[str] = field(default_factory=set)

    @property
    def base(self) -> str:
        """Its base URL."""
        return f"http://{self.host}"

    def actor(self, name: str, *, key_index: int = 0, shared: bool = True) -> FakeActor:
        """Add (or get) an actor named name."""
        if name not in self.actors:
            uri = f"{self.base}/users/{name}"
            self.actors[name] = FakeActor(
                uri=uri,
                key=cached_key(key_index),
                key_id=f"{uri}#main-key",
                inbox=f"{uri}/inbox",
                shared_inbox=f"{self.base}/inbox" if shared else "",
            )
        return self.actors[name]

    def add(self, uri: str, *, key_id: str, kind: str = "Person", key_index: int = 0) -> FakeActor:
        """Add an actor with any URI and key id (a key id without fragment gets a Key document)."""
        actor = FakeActor(
            uri=uri, key=cached_key(key_index), key_id=key_id, inbox=f"{uri}/inbox", kind=kind
        )
        self.actors[uri] = actor
        return actor

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Serve actor documents; accept POSTs (recorded) with 202."""
        if self.answer is not None:
            custom = self.answer(request)
            if custom is not None:
                return custom
        url = str(request.url).split("#")[0]
        if request.method == "GET":
            for actor in self.actors.values():
                if url == actor.key_id:
                    key = dict(actor.document()["publicKey"])
                    key["@context"] = "https://w3id.org/security/v1"
                    return httpx.Response(
                        200, json=key, headers={"content-type": "application/activity+json"}
                    )
                if url == actor.uri:
                    if actor.uri in self.gone:
                        return httpx.Response(410)
                    return httpx.Response(
                        200,
                        json=actor.document(),
                        headers={"content-type": "application/activity+json"},
                    )
            return httpx.Response(404)
        body = json.loads(request.content or b"{}")
        self.received.append((url, body, dict(request.headers)))
        return httpx.Response(202)

    def transport(self) -> httpx.MockTransport:
        """An httpx transport serving this server."""
        return httpx.MockTransport(self.handle)

    def activities(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The activities received (of one type)."""
        return [
            body for _url, body, _h in self.received if kind is None or body.get("type") == kind
        ]


def signed_headers(
    actor: FakeActor,
    url: str,
    body: bytes,
    *,
    now: datetime | None = None,
    scheme: str = "cavage",
    key: rsa.RSAPrivateKey | None = None,
    key_id: str | None = None,
) -> dict[str, str]:
    """Headers signing a POST of body to url as the actor."""
    signer = rfc9421.sign_request if scheme == "rfc9421" else signatures.sign_request
    headers = {"Content-Type": "application/activity+json"}
    added = signer(
        method="POST",
        url=url,
        headers=headers,
        body=body,
        key_id=key_id or actor.key_id,
        private_key=key or actor.key,
        now=now or utcnow(),
    )
    if scheme == "rfc9421":
        added.setdefault("Date", signatures.http_date(now or utcnow()))
    return {**headers, **added}


def activity(
    actor: FakeActor, kind: str, obj: Any, *, number: int | str = 1, **extra: Any
) -> dict[str, Any]:
    """An activity by the actor with a stable id."""
    return {
        "@context": AS2,
        "id": f"{actor.uri}/activities/{kind.lower()}-{number}",
        "type": kind,
        "actor": actor.uri,
        "object": obj,
        **extra,
    }


async def post_signed(
    client: httpx.AsyncClient,
    path: str,
    actor: FakeActor,
    body: dict[str, Any] | bytes,
    **options: Any,
) -> httpx.Response:
    """POST an activity to an inbox of the app behind client, signed as the actor."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    url = str(client.base_url).rstrip("/") + path
    headers = signed_headers(actor, url, raw, **options)
    return await client.post(path, content=raw, headers=headers)


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll until check() is truthy (fails the test after timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or check}")


@dataclass
class Stub:
    """The stub receiver process (tests/stub_receiver.py) and its log."""

    directory: Path
    stall: float = 0.0
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.directory / "stub.log"

    def start(self) -> "Stub":
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        key_file = self.directory / "key.pem"
        key_file.write_text(keys.rsa_public_pem(cached_key(0)))
        env = cli_env(
            {
                "STUB_LOG": str(self.log),
                "STUB_KEY_FILE": str(key_file),
                "STUB_STALL_SECONDS": str(self.stall),
            }
        )
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.stub_receiver:app",
            "--port",
            str(self.port),
        ]
        self.process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--log-level", "warning"], env=env
        )
        wait_for(self._ready, what="the stub receiver")
        return self

    def _ready(self) -> bool:
        try:
            return httpx.get(self.url + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def events(self, kind: str) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        lines = self.log.read_text().splitlines()
        return [entry for entry in map(json.loads, lines) if entry["event"] == kind]

    def actor(self, name: str = "bob") -> FakeActor:
        uri = f"{self.url}/users/{name}"
        return FakeActor(uri=uri, key=cached_key(0), key_id=f"{uri}#main-key", inbox=f"{uri}/inbox")
