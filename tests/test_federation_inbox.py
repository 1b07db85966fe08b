"""The inbox: verify, store once, answer 202; everything else is refused and nothing stored."""

import json
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms
from sqlmodel import func, select

from federation import blocks, keys, rfc9421, signatures
from schema.tables import InboxItem, RemoteActor, User
from schema.tables._base import utcnow
from tests.factories import make_association, make_user
from tests.federation_support import (
    FakeServer,
    Instance,
    Router,
    activity,
    cached_key,
    make_instance,
    post_signed,
    signed_headers,
)

INBOX = "/associations/amis/inbox"


@pytest.fixture
def world(tmp_path: Path) -> tuple[Instance, FakeServer]:
    """Our instance (the test database) and a remote server holding bob and carol."""
    router = Router()
    ours = make_instance(tmp_path, "a", router, shared_db=True)
    remote = FakeServer("remote.test")
    router.add("remote.test", remote.transport())
    remote.actor("bob")
    remote.actor("carol", key_index=1)
    owner = make_user(ours.db, username="owner")
    make_association(ours.db, owner, name="Les Amis", slug="amis")
    return ours, remote


def stored(instance: Instance) -> int:
    with instance.db.read() as session:
        return int(session.exec(select(func.count()).select_from(InboxItem)).one())


def follow_of(remote: FakeServer, name: str = "bob", number: int = 1) -> dict[str, Any]:
    actor = remote.actors[name]
    return activity(actor, "Follow", "http://a.test/associations/amis", number=number)


async def test_signed_follow_is_stored_once_and_replay_gets_202(world: Any) -> None:
    ours, remote = world
    bob = remote.actors["bob"]
    body = follow_of(remote)
    async with ours.browser() as client:
        first = await post_signed(client, INBOX, bob, body)
        replay = await post_signed(client, INBOX, bob, body)
        shared = await post_signed(client, "/inbox", bob, body)
    assert (first.status_code, replay.status_code, shared.status_code) == (202, 202, 202)
    assert stored(ours) == 1
    with ours.db.read() as session:
        item = session.exec(select(InboxItem)).one()
    assert item.activity_type == "Follow"
    assert item.recipient_kind == "association"
    assert json.loads(item.body) == body


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "JSON"),
        (b"\xff\xfe", "JSON"),
        (b"[1, 2]", "object"),
        (b'"text"', "object"),
        (b"{}", "id"),
        (b'{"id": "http://remote.test/1", "actor": "http://remote.test/users/bob"}', "type"),
        (b'{"id": "http://remote.test/1", "type": "Follow"}', "actor"),
        (b'{"id": 5, "type": "Follow", "actor": "http://remote.test/users/bob"}', "id"),
        (
            b'{"id": "http://remote.test/1", "type": 3, "actor": "http://remote.test/users/bob"}',
            "type",
        ),
        (
            b'{"id": "http://remote.test/1", "type": "Follow", "actor": "http://remote.test/u",'
            b' "@graph": []}',
            "@graph",
        ),
        (b"[" * 5000 + b"]" * 5000, "JSON"),
    ],
)
async def test_malformed_bodies_get_400(world: Any, body: bytes, reason: str) -> None:
    ours, remote = world
    async with ours.browser() as client:
        response = await post_signed(client, INBOX, remote.actors["bob"], body)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert stored(ours) == 0


async def test_unsigned_request_gets_401_with_a_reason(world: Any) -> None:
    ours, remote = world
    async with ours.browser() as client:
        response = await client.post(INBOX, json=follow_of(remote))
    assert response.status_code == 401
    assert response.json() == {"error": "the request is not signed"}
    assert stored(ours) == 0


async def test_inbox_of_nobody_is_404(world: Any) -> None:
    ours, remote = world
    owner = make_user(ours.db)
    make_association(ours.db, owner, name="Cachée", slug="cachee", is_hidden=True)
    bob = remote.actors["bob"]
    async with ours.browser() as client:
        missing = await post_signed(client, "/associations/nope/inbox", bob, follow_of(remote))
        hidden = await post_signed(client, "/associations/cachee/inbox", bob, follow_of(remote))
        person = await post_signed(client, "/users/owner/inbox", bob, follow_of(remote))
    assert (missing.status_code, hidden.status_code, person.status_code) == (404, 404, 404)
    with ours.db.write() as session:
        user = session.exec(select(User).where(User.username == "owner")).one()
        user.federation_enabled = True
        session.add(user)
    async with ours.browser() as client:
        person = await post_signed(client, "/users/owner/inbox", bob, follow_of(remote, number=2))
        instance = await post_signed(client, "/actor/inbox", bob, follow_of(remote, number=3))
    assert (person.status_code, instance.status_code) == (202, 202)
    assert stored(ours) == 2


async def test_tampered_body_gets_401(world: Any) -> None:
    ours, remote = world
    bob = remote.actors["bob"]
    raw = json.dumps(follow_of(remote)).encode()
    headers = signed_headers(bob, f"{ours.url}{INBOX}", raw)
    tampered = raw.replace(b"follow-1", b"follow-2")
    async with ours.browser() as client:
        response = await client.post(INBOX, content=tampered, headers=headers)
    assert response.status_code == 401
    assert "digest" in response.json()["error"]
    assert stored(ours) == 0


async def test_wrong_key_gets_401(world: Any) -> None:
    ours, remote = world
    bob = remote.actors["bob"]
    async with ours.browser() as client:
        response = await post_signed(client, INBOX, bob, follow_of(remote), key=cached_key(1))
    assert response.status_code == 401
    assert "signature not verified" in response.json()["error"]
    assert stored(ours) == 0


@pytest.mark.parametrize("shift", [timedelta(hours=-2), timedelta(hours=2)])
async def test_date_outside_the_window_gets_401(world: Any, shift: timedelta) -> None:
    ours, remote = world
    async with ours.browser() as client:
        response = await post_signed(
            client, INBOX, remote.actors["bob"], follow_of(remote), now=utcnow() + shift
        )
    assert response.status_code == 401
    assert "time" in response.json()["error"]
    assert stored(ours) == 0


async def test_key_owned_by_another_host_gets_401(world: Any, tmp_path: Path) -> None:
    ours, remote = world
    other = FakeServer("other.test")
    ours.router.add("other.test", other.transport())
    mallory = other.actor("mallory")
    body = follow_of(remote)  # claims to be bob on remote.test
    async with ours.browser() as client:
        response = await post_signed(client, INBOX, mallory, body)
    assert response.status_code == 401
    assert "another host" in response.json()["error"]
    assert stored(ours) == 0


async def test_signer_must_be_the_actor(world: Any) -> None:
    ours, remote = world
    carol = remote.actors["carol"]
    async with ours.browser() as client:
        response = await post_signed(client, INBOX, carol, follow_of(remote, "bob"))
    assert response.status_code == 401
    assert "not the activity's actor" in response.json()["error"]
    assert stored(ours) == 0


async def test_activity_id_on_another_host_gets_401(world: Any) -> None:
    ours, remote = world
    body = {**follow_of(remote), "id": "http://elsewhere.test/activities/1"}
    async with ours.browser() as client:
        response = await post_signed(client, INBOX, remote.actors["bob"], body)
    assert response.status_code == 401
    assert stored(ours) == 0


async def test_activity_claiming_a_local_actor_gets_401(world: Any) -> None:
    ours, remote = world
    body = {**follow_of(remote), "actor": "http://a.test/associations/amis"}
    body["id"] = "http://a.test/activities/forged"
    async with ours.browser() as client:
        response = await post_signed(client, INBOX, remote.actors["bob"], body)
    assert response.status_code == 401
    assert stored(ours) == 0


@pytest.mark.parametrize("what", ["domain", "subdomain", "actor"])
async def test_blocked_senders_get_403(world: Any, what: str) -> None:
    ours, remote = world
    with ours.db.write() as session:
        if what == "actor":
            blocks.add_block(session, actor_uri=remote.actors["bob"].uri)
        else:
            blocks.add_block(session, domain="test" if what == "subdomain" else "remote.test")
    async with ours.browser() as client:
        response = await post_signed(client, INBOX, remote.actors["bob"], follow_of(remote))
    assert response.status_code == 403
    assert stored(ours) == 0
    assert not remote.received  # not even the actor was fetched


async def test_unknown_actor_deleting_itself_gets_202_and_nothing_stored(world: Any) -> None:
    ours, remote = world
    bob = remote.actors["bob"]
    remote.gone.add(bob.uri)
    body = activity(bob, "Delete", bob.uri)
    async with ours.browser() as client:
        response = await post_signed(client, INBOX, bob, body)
    assert response.status_code == 202
    assert stored(ours) == 0


async def test_rotated_key_is_refetched_once(world: Any) -> None:
    ours, remote = world
    bob = remote.actors["bob"]
    async with ours.browser() as client:
        assert (await post_signed(client, INBOX, bob, follow_of(remote))).status_code == 202
        bob.key = cached_key(2)  # bob rotates; our cache still holds the old key
        response = await post_signed(client, INBOX, bob, follow_of(remote, number=2))
    assert response.status_code == 202
    with ours.db.read() as session:
        cached = session.exec(select(RemoteActor).where(RemoteActor.uri == bob.uri)).one()
    assert cached.public_key_pem == keys.rsa_public_pem(cached_key(2))


async def test_body_over_the_limit_gets_413(world: Any) -> None:
    ours, remote = world
    big = json.dumps({**follow_of(remote), "pad": "x" * 1_100_000}).encode()
    async with ours.browser() as client:
        response = await post_signed(client, INBOX, remote.actors["bob"], big)
    assert response.status_code == 413
    assert stored(ours) == 0


# -- each signed part altered in turn --------------------------------------------


def _cavage_alter(
    headers: dict[str, str], what: str, raw: bytes
) -> tuple[str, dict[str, str], bytes]:
    path = INBOX
    if what == "path":
        path = "/inbox"
    elif what == "query":
        path = INBOX + "?page=2"
    elif what == "host":
        headers["Host"] = "a.test:8443"
    elif what == "date":
        moment = parsedate_to_datetime(headers["Date"]) + timedelta(seconds=1)
        headers["Date"] = signatures.http_date(moment)
    elif what == "digest":
        raw = raw + b" "
        headers["Digest"] = signatures.digest_header(raw)
    elif what == "body":
        raw = raw.replace(b"Follow", b"Fellow")
    elif what == "keyid":
        headers["Signature"] = headers["Signature"].replace("remote.test", "other.test")
    return path, headers, raw


@pytest.mark.parametrize(
    "what", ["method", "path", "query", "host", "date", "digest", "body", "keyid"]
)
async def test_each_signed_part_altered_gets_401_cavage(world: Any, what: str) -> None:
    ours, remote = world
    bob = remote.actors["bob"]
    raw = json.dumps(follow_of(remote)).encode()
    url = f"{ours.url}{INBOX}?page=1" if what == "query" else f"{ours.url}{INBOX}"
    if what == "method":
        headers = signatures.sign_request(
            "PUT",
            url,
            {"Content-Type": "application/activity+json"},
            raw,
            bob.key_id,
            bob.key,
            utcnow(),
        )
        headers["Content-Type"] = "application/activity+json"
    else:
        headers = signed_headers(bob, url, raw)
    path, headers, raw = _cavage_alter(headers, what, raw)
    async with ours.browser() as client:
        response = await client.post(path, content=raw, headers=headers)
    assert response.status_code == 401, response.text
    assert stored(ours) == 0


@pytest.mark.parametrize(
    "what", ["method", "path", "query", "host", "created", "digest", "body", "keyid"]
)
async def test_each_signed_part_altered_gets_401_rfc9421(world: Any, what: str) -> None:
    ours, remote = world
    bob = remote.actors["bob"]
    raw = json.dumps(follow_of(remote)).encode()
    url = f"{ours.url}{INBOX}?page=1" if what == "query" else f"{ours.url}{INBOX}"
    headers = signed_headers(bob, url, raw, scheme="rfc9421")
    path = INBOX
    if what == "path":
        path = "/inbox"
    elif what == "query":
        path = INBOX + "?page=2"
    elif what == "host":
        headers["Host"] = "a.test:8443"
    elif what == "created":
        created = headers["Signature-Input"].split("created=")[1].split(";")[0]
        headers["Signature-Input"] = headers["Signature-Input"].replace(
            f"created={created}", f"created={int(created) + 1}"
        )
    elif what == "digest":
        raw = raw + b" "
        headers["Content-Digest"] = rfc9421.content_digest_header(raw)
    elif what == "body":
        raw = raw.replace(b"Follow", b"Fellow")
    elif what == "keyid":
        headers["Signature-Input"] = headers["Signature-Input"].replace("remote.test", "other.test")
    async with ours.browser() as client:
        if what == "method":
            request = client.build_request("POST", path, content=raw, headers=headers)
            # The signature covered "@method": POST. Replaying it as another verb on the
            # inbox is impossible (405), so alter the signed value instead: re-sign as PUT.
            signed = rfc9421.sign_request(
                "PUT",
                url,
                {"Content-Type": "application/activity+json"},
                raw,
                bob.key_id,
                bob.key,
                utcnow(),
            )
            request.headers.update(signed)
            response = await client.send(request)
        else:
            response = await client.post(path, content=raw, headers=headers)
    assert response.status_code == 401, response.text
    assert stored(ours) == 0


async def test_rfc9421_from_the_independent_package_is_accepted(world: Any) -> None:
    ours, remote = world
    bob = remote.actors["bob"]
    raw = json.dumps(follow_of(remote)).encode()
    resolver = MappingKeyResolver(public_keys={}, private_keys={bob.key_id: bob.key})
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.RSA_V1_5_SHA256, key_resolver=resolver
    )
    request = httpx.Request(
        "POST",
        f"{ours.url}{INBOX}",
        content=raw,
        headers={"Content-Type": "application/activity+json"},
    )
    signer.sign(
        request,
        key_id=bob.key_id,
        created=utcnow(),
        label="sig1",
        covered_component_ids=("@method", "@target-uri", "content-digest"),
        body=raw,
    )
    assert "signature-input" in request.headers
    async with ours.browser() as client:
        response = await client.post(INBOX, content=raw, headers=dict(request.headers))
    assert response.status_code == 202, response.text
    assert stored(ours) == 1
