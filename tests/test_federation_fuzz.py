"""Hostile inbox traffic (hypothesis): no 500, nothing stored, whatever is thrown at it."""

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import func, select

from schema.tables import InboxItem
from schema.tables._base import utcnow
from tests.factories import make_association, make_user
from tests.federation_support import FakeServer, Router, make_instance, signed_headers

PATHS = ["/inbox", "/actor/inbox", "/associations/amis/inbox", "/users/nobody/inbox"]
SIGNATURE_NAMES = ["Signature", "Signature-Input", "Digest", "Content-Digest", "Date", "Host"]

urls = st.sampled_from(
    [
        "http://remote.test/users/bob",
        "http://remote.test/users/bob#main-key",
        "http://a.test/associations/amis",
        "http://127.0.0.1/admin",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://remote.test/users/nobody#main-key",
        "",
    ]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30) | urls,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
activities = st.fixed_dictionaries(
    {},
    optional={
        "@context": json_values,
        "id": urls | json_values,
        "type": st.sampled_from(["Follow", "Undo", "Delete", "Create", "Accept", ""]) | json_values,
        "actor": urls | json_values,
        "object": urls | json_values,
        "@graph": json_values,
    },
)
bodies = (
    activities.map(lambda a: json.dumps(a).encode())
    | st.binary(max_size=300)
    | st.text(max_size=300).map(str.encode)
    | st.sampled_from([b"", b"null", b"[]", b"{", b"\x00" * 50, b'{"a":' * 200])
)
header_values = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=200
) | st.sampled_from(
    [
        'keyId="http://remote.test/users/bob#main-key",signature="AAAA"',
        'keyId="http://remote.test/users/bob#main-key",headers="(request-target) host date digest",signature="!!"',
        'sig1=("@method" "@target-uri");created=1;keyid="http://remote.test/users/bob#main-key"',
        "sig1=:AAAA:",
        "SHA-256=AAAA",
        "Thu, 01 Jan 1970 00:00:00 GMT",
    ]
)


def _world(tmp_path: Path) -> tuple[Any, FakeServer]:
    router = Router()
    ours = make_instance(tmp_path, "a", router, shared_db=True)
    remote = FakeServer("remote.test")
    router.add("remote.test", remote.transport())
    remote.actor("bob")
    owner = make_user(ours.db)
    make_association(ours.db, owner, name="Amis", slug="amis")
    return ours, remote


def _stored(ours: Any) -> int:
    with ours.db.read() as session:
        return int(session.exec(select(func.count()).select_from(InboxItem)).one())


def test_hostile_requests_never_500_and_store_nothing(tmp_path: Path) -> None:
    ours, remote = _world(tmp_path)
    bob = remote.actors["bob"]
    statuses: dict[int, int] = {}

    async def send(path: str, body: bytes, headers: dict[str, str], sign: bool) -> int:
        transport = httpx.ASGITransport(app=ours.app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url=ours.url) as client:
            if sign:
                signed = signed_headers(bob, ours.url + path, body, now=utcnow())
                signed.update(headers)  # hostile values override some signed headers
                headers = signed
            response = await client.post(path, content=body, headers=headers)
            return response.status_code

    @settings(
        max_examples=2500,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(
        path=st.sampled_from(PATHS),
        body=bodies,
        headers=st.dictionaries(st.sampled_from(SIGNATURE_NAMES), header_values, max_size=3),
        sign=st.booleans(),
    )
    def hostile(path: str, body: bytes, headers: dict[str, str], sign: bool) -> None:
        status = asyncio.run(send(path, body, headers, sign))
        statuses[status] = statuses.get(status, 0) + 1
        assert status < 500
        assert status != 202 or not body.strip().startswith(b"{")  # never accepted

    hostile()
    assert _stored(ours) == 0
    assert sum(statuses.values()) >= 2500
    assert set(statuses) <= {400, 401, 403, 404, 413}, statuses


def test_oversized_and_deep_bodies(tmp_path: Path) -> None:
    ours, remote = _world(tmp_path)
    bob = remote.actors["bob"]

    async def scenario() -> list[int]:
        transport = httpx.ASGITransport(app=ours.app, raise_app_exceptions=True)
        found = []
        async with httpx.AsyncClient(transport=transport, base_url=ours.url) as client:
            for body in (
                b"x" * (ours.config.federation.max_body_bytes + 1),
                b"[" * 100_000 + b"]" * 100_000,
                json.dumps(
                    {
                        "id": "http://remote.test/a",
                        "type": "Follow",
                        "actor": bob.uri,
                        "x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
                    }
                ).encode(),
            ):
                headers = signed_headers(bob, ours.url + "/inbox", body)
                found.append(
                    (await client.post("/inbox", content=body, headers=headers)).status_code
                )

            async def chunks() -> Any:
                for _chunk in range(40):
                    yield b"x" * 65536

            streamed = await client.post(
                "/inbox", content=chunks(), headers={"Content-Type": "application/json"}
            )
            found.append(streamed.status_code)
        return found

    assert asyncio.run(scenario()) == [413, 400, 400, 413]
    assert _stored(ours) == 0
