"""Discovery: WebFinger for every resource form, host-meta, NodeInfo 2.1."""

import json
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from federation import nodeinfo
from federation.handles import Handle, HandleError, parse_lookup
from schema.db import Database
from schema.tables import Association, PublicNote, User
from schema.tables._base import utcnow
from tests.conftest import make_config
from tests.factories import make_association, make_user
from web.app import build_services, create_app

JRD = "application/jrd+json"
BASE = "http://testserver"


def update(db: Database, table: type, row_id: int | None, **values: Any) -> None:
    """Change columns of one row."""
    with db.write() as session:
        row = session.get(table, row_id)
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)


async def finger(client: httpx.AsyncClient, resource: str) -> httpx.Response:
    return await client.get("/.well-known/webfinger", params={"resource": resource})


def self_link(document: dict[str, Any]) -> str:
    links = [link for link in document["links"] if link["rel"] == "self"]
    assert len(links) == 1
    assert links[0]["type"] == "application/activity+json"
    return links[0]["href"]


@pytest.fixture
def owner(db: Database) -> User:
    return make_user(db, username="owner")


@pytest.fixture
def association(db: Database, owner: User) -> Association:
    return make_association(db, owner, name="Les Restos", slug="restos")


@pytest.mark.parametrize(
    "resource",
    [
        "acct:restos@testserver",
        "acct:Restos@TestServer",
        f"{BASE}/associations/restos",
    ],
)
async def test_webfinger_finds_an_association(
    client: httpx.AsyncClient, association: Association, resource: str
) -> None:
    response = await finger(client, resource)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JRD
    assert response.headers["access-control-allow-origin"] == "*"
    document = response.json()
    assert document["subject"] == "acct:restos@testserver"
    assert document["aliases"] == [f"{BASE}/associations/restos"]
    assert self_link(document) == f"{BASE}/associations/restos"
    pages = [link for link in document["links"] if link["rel"].endswith("profile-page")]
    assert pages and pages[0]["href"] == f"{BASE}/associations/restos"


async def test_webfinger_finds_a_person_only_with_federation_on(
    client: httpx.AsyncClient, db: Database
) -> None:
    alice = make_user(db, username="alice")
    for resource in ("acct:alice@testserver", f"{BASE}/users/alice"):
        assert (await finger(client, resource)).status_code == 404
    update(db, User, alice.id, federation_enabled=True)
    for resource in ("acct:alice@testserver", f"{BASE}/users/alice"):
        response = await finger(client, resource)
        assert response.status_code == 200
        assert response.json()["subject"] == "acct:alice@testserver"
        assert self_link(response.json()) == f"{BASE}/users/alice"
    update(db, User, alice.id, is_suspended=True)
    assert (await finger(client, "acct:alice@testserver")).status_code == 404


@pytest.mark.parametrize(
    "resource",
    [f"{BASE}/", BASE, f"{BASE}/actor", "acct:testserver@testserver"],
)
async def test_webfinger_finds_the_instance_actor(client: httpx.AsyncClient, resource: str) -> None:
    response = await finger(client, resource)
    assert response.status_code == 200, response.text
    document = response.json()
    assert self_link(document) == f"{BASE}/actor"
    services = [link for link in document["links"] if link["rel"].endswith("#Service")]
    assert services[0]["href"] == f"{BASE}/actor"


async def test_webfinger_hides_hidden_associations(
    client: httpx.AsyncClient, db: Database, owner: User
) -> None:
    make_association(db, owner, name="Secret", slug="secret", is_hidden=True)
    for resource in ("acct:secret@testserver", f"{BASE}/associations/secret"):
        response = await finger(client, resource)
        assert response.status_code == 404
        assert "secret" not in response.json().get("detail", "").lower()


async def test_webfinger_says_gone_for_suspended_associations(
    client: httpx.AsyncClient, db: Database, association: Association
) -> None:
    update(db, Association, association.id, is_suspended=True)
    assert (await finger(client, "acct:restos@testserver")).status_code == 410


@pytest.mark.parametrize(
    "resource",
    [
        "acct:nobody@testserver",
        "acct:restos@elsewhere.example",
        "https://elsewhere.example/associations/restos",
        f"{BASE}/associations/nobody",
        f"{BASE}/associations/restos/outbox",
        f"{BASE}/users/",
        f"{BASE}/admin",
    ],
)
async def test_webfinger_unknown_is_404(
    client: httpx.AsyncClient, association: Association, resource: str
) -> None:
    response = await finger(client, resource)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?resource=",
        "?resource=restos",
        "?resource=acct:",
        "?resource=acct:@testserver",
        "?resource=acct:a@b@testserver",
        "?resource=mailto:restos@testserver",
        "?resource=ftp://testserver/",
        "?resource=acct:<script>@testserver",
        "?resource=acct:x'%20OR%201=1--@testserver",
        "?resource=acct:" + "a" * 3000 + "@testserver",
        "?resource=acct:restos@testserver&resource=acct:restos@testserver",
    ],
)
async def test_webfinger_malformed_is_400(
    client: httpx.AsyncClient, association: Association, query: str
) -> None:
    response = await client.get("/.well-known/webfinger" + query)
    assert response.status_code == 400
    assert response.json()["status"] == 400
    assert "<script>" not in response.text


async def test_webfinger_is_404_when_federation_is_off(tmp_path, db: Database) -> None:  # type: ignore[no-untyped-def]
    config = make_config(tmp_path, federation={"enabled": False})
    services = build_services(config)
    services.db.dispose()
    services.db = db
    owner = make_user(db, username="owner2")
    make_association(db, owner, name="Off", slug="off")
    app = create_app(config, services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        assert (await finger(client, "acct:off@testserver")).status_code == 404
        assert (await client.get("/.well-known/nodeinfo")).status_code == 404
        assert (await client.get("/actor")).status_code == 404
        assert (await client.get("/associations/off/outbox")).status_code == 404


async def test_host_meta(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/host-meta")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xrd+xml")
    match = re.search(
        r'<Link rel="lrdd" type="application/jrd\+json" template="([^"]+)"/>', response.text
    )
    assert match
    assert match.group(1) == f"{BASE}/.well-known/webfinger?resource={{uri}}"
    assert 'xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0"' in response.text


async def test_nodeinfo_discovery_links(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/nodeinfo")
    assert response.status_code == 200
    links = {link["rel"]: link["href"] for link in response.json()["links"]}
    assert links["http://nodeinfo.diaspora.software/ns/schema/2.1"] == f"{BASE}/nodeinfo/2.1"
    assert links["https://www.w3.org/ns/activitystreams#Application"] == f"{BASE}/actor"


def check_nodeinfo_21(document: dict[str, Any]) -> None:
    """The shape the NodeInfo 2.1 JSON schema requires (no extra top-level keys)."""
    required = {
        "version",
        "software",
        "protocols",
        "services",
        "openRegistrations",
        "usage",
        "metadata",
    }
    assert set(document) == required
    assert document["version"] == "2.1"
    software = document["software"]
    assert set(software) <= {"name", "version", "repository", "homepage"}
    assert re.fullmatch(r"[a-z0-9-]+", software["name"])
    assert isinstance(software["version"], str) and software["version"]
    assert isinstance(document["protocols"], list) and len(document["protocols"]) >= 1
    assert set(document["protocols"]) <= {
        "activitypub", "buddycloud", "dfrn", "diaspora", "libertree", "ostatus", "pumpio",
        "tent", "xmpp", "zot",
    }  # fmt: skip
    assert set(document["services"]) == {"inbound", "outbound"}
    assert all(isinstance(v, list) for v in document["services"].values())
    assert isinstance(document["openRegistrations"], bool)
    usage = document["usage"]
    assert set(usage) <= {"users", "localPosts", "localComments"} and "users" in usage
    assert set(usage["users"]) <= {"total", "activeHalfyear", "activeMonth"}
    for value in [*usage["users"].values(), usage.get("localPosts", 0)]:
        assert isinstance(value, int) and value >= 0
    assert isinstance(document["metadata"], dict)


async def test_nodeinfo_document(client: httpx.AsyncClient, db: Database, owner: User) -> None:
    association = make_association(db, owner, name="Public", slug="public")
    make_association(db, owner, name="Hidden", slug="hidden", is_hidden=True)
    recent, old = make_user(db), make_user(db)
    now = utcnow()
    update(db, User, recent.id, last_login_at=now - timedelta(days=3))
    update(db, User, old.id, last_login_at=now - timedelta(days=100))
    with db.write() as session:
        session.add(PublicNote(association_id=association.id, content="Hello"))
        session.add(PublicNote(association_id=association.id, content="Again"))
    response = await client.get("/nodeinfo/2.1")
    assert response.status_code == 200
    assert response.headers["content-type"] == nodeinfo.CONTENT_TYPE
    document = response.json()
    check_nodeinfo_21(document)
    assert document["software"]["name"] == "benefed"
    assert document["protocols"] == ["activitypub"]
    assert document["openRegistrations"] is True
    assert document["usage"]["users"] == {"total": 3, "activeHalfyear": 2, "activeMonth": 1}
    assert document["usage"]["localPosts"] == 2
    assert document["metadata"]["nodeName"] == "Benefed"
    assert document["metadata"]["associations"] == 1
    text = json.dumps(document).lower()
    assert "hour" not in text and "minute" not in text


async def test_nodeinfo_closed_registrations(tmp_path, db: Database) -> None:  # type: ignore[no-untyped-def]
    config = make_config(tmp_path, registration="invitation")
    services = build_services(config)
    services.db.dispose()
    services.db = db
    transport = httpx.ASGITransport(app=create_app(config, services=services))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        document = (await client.get("/nodeinfo/2.1")).json()
    check_nodeinfo_21(document)
    assert document["openRegistrations"] is False


@pytest.mark.parametrize(
    ("text", "name", "host"),
    [
        ("restos@benevoles.example", "restos", "benevoles.example"),
        ("@restos@benevoles.example", "restos", "benevoles.example"),
        ("acct:restos@benevoles.example", "restos", "benevoles.example"),
        ("ACCT:restos@Benevoles.Example", "restos", "benevoles.example"),
        ("  restos@127.0.0.1:8000 ", "restos", "127.0.0.1:8000"),
        ("@Bob_1@localhost:3000", "Bob_1", "localhost:3000"),
        ("mastodon.social@mastodon.social", "mastodon.social", "mastodon.social"),
        ("alice@[::1]:8443", "alice", "[::1]:8443"),
        ("acct:alice%2Eb@example.org", "alice.b", "example.org"),
    ],
)
def test_handles_accepted(text: str, name: str, host: str) -> None:
    found = parse_lookup(text)
    assert isinstance(found, Handle)
    assert (found.name, found.host) == (name, host)
    assert found.acct == f"acct:{name}@{host}"


@pytest.mark.parametrize(
    "url", ["https://benevoles.example/associations/restos", "http://127.0.0.1:8000/users/alice"]
)
def test_actor_urls_accepted(url: str) -> None:
    assert parse_lookup(url) == url


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "restos",
        "@restos",
        "restos@",
        "@restos@",
        "acct:",
        "a@b@c",
        "@@host.example",
        "re stos@host.example",
        "<script>@host.example",
        "restos@host.example:",
        "restos@host.example:99999",
        "restos@host.example:port",
        "restos@-host.example",
        "restos@host..example",
        "restos@host_example.org",
        "'; DROP TABLE user; --@host.example",
        "restos@" + "a" * 300 + ".example",
        "a" * 3000 + "@host.example",
        "https://",
        "https://user:pw@host.example/users/x",
        "https://host.example:99999/x",
        "javascript:alert(1)",
        "ftp://host.example/x",
        "https://host .example/x",
        None,
        42,
    ],
)
def test_garbage_is_not_a_handle(text: object) -> None:
    with pytest.raises(HandleError):
        parse_lookup(text)  # type: ignore[arg-type]
