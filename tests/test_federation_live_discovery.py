"""Two real instances: A finds an association of B by its handle (WebFinger, then a signed GET)."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlmodel import select

from federation import actor_documents, remote_actors, signatures, signed_requests, verification
from federation.remote_actors import RemoteActorError, resolve_handle
from federation.safe_http import make_client
from instance.config import Config, load_config
from schema.db import Database, create_all, make_engine
from schema.tables import User
from schema.tables._base import utcnow
from tests.live import LiveInstance

# Its instances keep their own SQLite files whatever the test database:
# the PostgreSQL pass of scripts/test.sh leaves it out.
pytestmark = pytest.mark.sqlite_only

AP = "application/activity+json"


@contextmanager
def instance_side(instance: LiveInstance) -> Iterator[tuple[Config, Database]]:
    """The configuration and database of a running instance, to act as it from the test."""
    config = load_config(instance.config_path)
    db = Database(make_engine(config.database_url))
    try:
        yield config, db
    finally:
        db.dispose()


@pytest.fixture
def pair(live: Callable[..., LiveInstance]) -> tuple[LiveInstance, LiveInstance]:
    settings = {"BENEFED_FEDERATION_RUN_WORKER_IN_SERVER": "false"}
    a, b = live("a", **settings), live("b", **settings)
    for instance in (a, b):
        # Until a migration adds the federation tables, create the missing ones here.
        with instance_side(instance) as (_config, db):
            create_all(db.engine)
    b.cli(
        "user",
        "create",
        "--username",
        "owner",
        "--email",
        "o@b.example",
        "--password",
        "long enough pw",
    )
    b.cli(
        "user",
        "create",
        "--username",
        "alice",
        "--email",
        "a@b.example",
        "--password",
        "long enough pw",
    )
    b.cli("association", "create", "--name", "Les Restos", "--owner", "owner", "--slug", "restos",
          "--description", "Meals <for> all")  # fmt: skip
    b.cli(
        "association",
        "create",
        "--name",
        "Secret",
        "--owner",
        "owner",
        "--slug",
        "secret",
        "--hidden",
    )
    return a, b


async def test_two_instances_discover_each_other(pair: tuple[LiveInstance, LiveInstance]) -> None:
    """One pair of servers (they take a while to start) for every check."""
    await association_by_handle_with_a_signed_get(*pair)
    await person_only_once_federation_is_on(*pair)
    await discovery_over_real_http(pair[1])


async def association_by_handle_with_a_signed_get(a: LiveInstance, b: LiveInstance) -> None:
    host = f"127.0.0.1:{b.port}"
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    with instance_side(a) as (config_a, db_a):
        async with make_client(config_a) as client:
            client.event_hooks["request"] = [record]
            actor = await resolve_handle(db_a, client, config_a, f"restos@{host}")
            for form in (f"@restos@{host}", f"acct:restos@{host}", f"{b.url}/associations/restos"):
                again = await resolve_handle(db_a, client, config_a, form)
                assert again.id == actor.id
            for missing in (f"secret@{host}", f"nobody@{host}", f"alice@{host}"):
                with pytest.raises(RemoteActorError):
                    await resolve_handle(db_a, client, config_a, missing)
        instance_key = f"{a.url}/actor#main-key"

    assert actor.uri == f"{b.url}/associations/restos"
    assert actor.type == "Organization" and actor.preferred_username == "restos"
    assert actor.name == "Les Restos"
    assert actor.inbox == f"{b.url}/associations/restos/inbox"
    assert actor.shared_inbox == f"{b.url}/inbox"
    assert actor.public_key_id == f"{b.url}/associations/restos#main-key"
    assert actor.public_key_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert list(actor_documents.ed25519_keys(actor)) == [f"{b.url}/associations/restos#ed25519-key"]

    finger = sent[0]
    assert finger.url.path == "/.well-known/webfinger"
    assert finger.url.params["resource"] == f"acct:restos@{host}"
    fetch = next(r for r in sent if r.url.path == "/associations/restos")
    assert fetch.headers["accept"].startswith(AP)
    assert fetch.headers["signature"].startswith(f'keyId="{instance_key}"')

    # B checks A's signature on that GET with its own verification code: B fetches A's
    # instance actor (unsigned fetch allowed) and verifies; a changed path fails.
    incoming = signed_requests.IncomingRequest(
        method="GET",
        path_with_query="/associations/restos",
        headers=dict(fetch.headers),
        body=b"",
        scheme="http",
    )
    with instance_side(b) as (config_b, db_b):
        async with make_client(config_b) as client:
            signer = await remote_actors.actor_for_key_id(db_b, client, config_b, instance_key)
        assert signer.uri == f"{a.url}/actor" and signer.type == "Application"
        skew = config_b.federation.signature_skew_seconds
        verification.check_signature(incoming, signer, now=utcnow(), skew=skew)
        tampered = signed_requests.IncomingRequest(
            method="GET",
            path_with_query="/associations/secret",
            headers=dict(fetch.headers),
            body=b"",
            scheme="http",
        )
        with pytest.raises(signatures.SignatureError):
            verification.check_signature(tampered, signer, now=utcnow(), skew=skew)


async def person_only_once_federation_is_on(a: LiveInstance, b: LiveInstance) -> None:
    handle = f"alice@127.0.0.1:{b.port}"
    with instance_side(a) as (config_a, db_a):
        async with make_client(config_a) as client:
            with pytest.raises(RemoteActorError):
                await resolve_handle(db_a, client, config_a, handle)
            with instance_side(b) as (_config_b, db_b), db_b.write() as session:
                alice = session.exec(select(User).where(User.username == "alice")).one()
                alice.federation_enabled = True
                session.add(alice)
            person = await resolve_handle(db_a, client, config_a, handle)
    assert person.type == "Person" and person.uri == f"{b.url}/users/alice"
    assert person.name == ""  # no display name chosen: nothing but the user name


async def discovery_over_real_http(b: LiveInstance) -> None:
    async with httpx.AsyncClient(base_url=b.url) as client:
        finger = await client.get("/.well-known/webfinger", params={"resource": f"{b.url}/"})
        assert finger.status_code == 200
        assert any(link["href"] == f"{b.url}/actor" for link in finger.json()["links"])
        page = await client.get("/associations/restos", headers={"Accept": "text/html"})
        assert page.headers["content-type"].startswith("text/html")
        nodeinfo = (await client.get("/nodeinfo/2.1")).json()
        assert nodeinfo["usage"]["users"]["total"] == 2
        assert nodeinfo["metadata"]["associations"] == 1
        actor = await client.get("/actor")
        assert actor.headers["content-type"] == AP and actor.json()["type"] == "Application"
