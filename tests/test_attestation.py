"""Attestations: the JSON bundle (signed summaries exactly as received), the PDF, verification.

Verification is checked offline (keys embedded in the bundle) and online against
a real Benefed instance in-process (its association's actor document served
through the router), before and after the association's keys are rotated.
"""

import json
import re
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from federation import actor_keys, attestations, keys
from federation.attestations import BundleError
from instance import attestation_pdf
from schema.db import Database
from schema.tables import Association
from schema.tables._base import utcnow
from tests.factories import make_association
from tests.federation_support import Router, make_instance
from tests.test_action_pages import sign_in
from tests.test_actions_support import headers_for, make_world, quick_user
from tests.test_hours_view import (
    PROOF_TIME,
    SCRIPT,
    Issuer,
    receive,
    remote_hours,
    store_issuer,
)

# The bundle


async def test_the_bundle_carries_each_summary_exactly_as_received(
    client: httpx.AsyncClient, db: Database
) -> None:
    user = quick_user(db, display_name="Alice Ærø", federation_enabled=True)
    issuer, other = Issuer(), Issuer(host="c.test", slug="zebres", name="Zèbres ☂")
    store_issuer(db, issuer)
    store_issuer(db, other)
    kept = [
        receive(db, user, issuer.sign(issuer.summary(month="2024-05", minutes=90))),
        receive(db, user, other.sign(other.summary(month="2024-06", minutes=30))),
    ]
    receive(db, user, issuer.sign(issuer.summary(month="2024-07", minutes=5)), deleted=True)
    remote_hours(db, quick_user(db), Issuer(host="d.test"), {"2024-05": 999})
    answer = await client.get("/api/v1/me/attestation.json", headers=headers_for(db, user))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    for row in kept:
        assert row.body in answer.text  # spliced in byte for byte, never re-serialised
    bundle = answer.json()
    assert bundle["summaries"] == [json.loads(row.body) for row in kept]
    assert set(bundle) == {"subject", "issued", "period", "summaries", "verificationMethods"}
    assert bundle["subject"] == {
        "id": f"http://testserver/users/{user.username}",
        "name": "Alice Ærø",
        "handle": f"{user.username}@testserver",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", bundle["issued"])
    assert bundle["period"] == {"from": None, "to": None}
    assert [m["id"] for m in bundle["verificationMethods"]] == sorted([issuer.key_id, other.key_id])
    for method in bundle["verificationMethods"]:
        assert method["controller"] in {issuer.uri, other.uri}
        assert method["publicKeyMultibase"].startswith("z6Mk")
    verdicts = attestations.verify_bundle(bundle)
    assert [(v.verdict, v.month, v.minutes) for v in verdicts] == [
        ("valid", "2024-05", 90),
        ("valid", "2024-06", 30),
    ]
    june = await client.get(
        "/api/v1/me/attestation.json",
        params={"from": "2024-06", "to": "2024-12"},
        headers=headers_for(db, user),
    )
    assert [s["month"] for s in june.json()["summaries"]] == ["2024-06"]
    assert june.json()["period"] == {"from": "2024-06", "to": "2024-12"}


async def test_the_bundle_keeps_revoked_keys_that_signed_older_summaries(
    client: httpx.AsyncClient, db: Database
) -> None:
    user = quick_user(db)
    issuer = Issuer()
    old = issuer.sign(issuer.summary(month="2024-05"))
    issuer.rotate(PROOF_TIME + timedelta(days=1))
    new = issuer.sign(issuer.summary(month="2024-06"), created=PROOF_TIME + timedelta(days=2))
    store_issuer(db, issuer)
    receive(db, user, old)
    receive(db, user, new)
    bundle = (await client.get("/api/v1/me/attestation.json", headers=headers_for(db, user))).json()
    methods = {method["id"]: method for method in bundle["verificationMethods"]}
    assert set(methods) == {issuer.keys[0][0], issuer.keys[1][0]}
    assert methods[issuer.keys[0][0]]["revoked"] == "2024-06-02T09:30:00Z"
    assert "revoked" not in methods[issuer.keys[1][0]]
    assert attestations.all_valid(attestations.verify_bundle(bundle))


async def test_the_bundle_refuses_bad_months_and_strangers(
    client: httpx.AsyncClient, db: Database
) -> None:
    headers = headers_for(db, quick_user(db))
    for path in ("/api/v1/me/attestation.json", "/api/v1/me/attestation.pdf"):
        for params in ({"from": "2024-13"}, {"to": SCRIPT}, {"from": "2024-05", "to": "2023-05"}):
            answer = await client.get(path, params=params, headers=headers)
            assert answer.status_code == 422, (path, params)
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert SCRIPT not in answer.text
        assert (await client.get(path)).status_code == 401
    empty = await client.get("/api/v1/me/attestation.json", headers=headers)
    assert empty.json()["summaries"] == [] and empty.json()["verificationMethods"] == []


# Offline verdicts


def _bundle(issuer: Issuer, *summaries: dict[str, Any]) -> dict[str, Any]:
    method = issuer.document()["assertionMethod"]
    return {"summaries": list(summaries), "verificationMethods": method}


def test_offline_verdicts_valid_tampered_and_key_unknown() -> None:
    issuer = Issuer()
    good = issuer.sign(issuer.summary(month="2024-05", minutes=90))
    more = dict(good, minutes=900)
    renamed = dict(good, name="Une autre association")
    unsigned = issuer.summary(month="2024-06")
    broken = dict(good, proof=dict(good["proof"], proofValue="z" + "1" * 20))
    stranger = Issuer(host="evil.test")
    foreign_key = stranger.sign(issuer.summary(month="2024-08"))  # key of another host
    other_key = Issuer(slug="autre").sign(issuer.summary(month="2024-09"))  # not in the bundle
    note = issuer.sign({"id": "http://b.test/notes/1", "type": "Note", "attributedTo": issuer.uri})
    bundle = _bundle(
        issuer, good, more, renamed, unsigned, broken, foreign_key, other_key, note, "nonsense"
    )
    verdicts = attestations.verify_bundle(bundle)
    assert [v.verdict for v in verdicts] == [
        "valid",
        "tampered",
        "tampered",
        "tampered",
        "tampered",
        "key unknown",
        "key unknown",
        "tampered",
        "tampered",
    ]
    assert verdicts[1].minutes == 900 and verdicts[1].key_id == issuer.key_id
    assert "no proof" in verdicts[3].detail
    assert "not on the association's server" in verdicts[5].detail
    assert "does not hold the key" in verdicts[6].detail
    assert not attestations.all_valid(verdicts)


def test_offline_keys_must_belong_to_the_association() -> None:
    issuer = Issuer()
    good = issuer.sign(issuer.summary())
    method = dict(issuer.document()["assertionMethod"][0], controller="http://b.test/users/mallory")
    found = attestations.verify_bundle({"summaries": [good], "verificationMethods": [method]})
    assert found[0].verdict == "key unknown" and "does not belong" in found[0].detail
    swapped = dict(
        method,
        controller=issuer.uri,
        publicKeyMultibase=keys.ed25519_multikey(keys.generate_ed25519()),
    )
    found = attestations.verify_bundle({"summaries": [good], "verificationMethods": [swapped]})
    assert found[0].verdict == "tampered"
    junk = dict(method, controller=issuer.uri, publicKeyMultibase="zNotAKey")
    found = attestations.verify_bundle({"summaries": [good], "verificationMethods": [junk]})
    assert found[0].verdict == "key unknown"


def test_a_proof_made_after_its_key_was_revoked_is_refused() -> None:
    issuer = Issuer()
    before = issuer.sign(issuer.summary(month="2024-05"), created=PROOF_TIME)
    after = issuer.sign(issuer.summary(month="2024-06"), created=PROOF_TIME + timedelta(days=3))
    issuer.rotate(PROOF_TIME + timedelta(days=1))
    verdicts = attestations.verify_bundle(_bundle(issuer, before, after))
    assert [v.verdict for v in verdicts] == ["valid", "key unknown"]
    assert "revoked" in verdicts[1].detail


def test_what_is_not_a_bundle() -> None:
    for data in ([], "x", {"summaries": "all"}, {}, {"summaries": [], "verificationMethods": 3}):
        with pytest.raises(BundleError):
            attestations.verify_bundle(data)
    for raw in (b"{not json", b"\xff\xfe", b"[" * 100_000, b'{"summaries": null}'):
        with pytest.raises(BundleError):
            attestations.parse_bundle(raw)
    with pytest.raises(BundleError):
        attestations.verify_bundle({"summaries": [{}] * (attestations.MAX_SUMMARIES + 1)})
    assert attestations.verify_bundle({"summaries": []}) == []


# Online, against a real instance in-process, before and after a key rotation


def _sign_as(instance: Any, association: Association, month: str, minutes: int) -> dict[str, Any]:
    issuer = Issuer(host="b.test", slug=association.slug, name=association.name)
    with instance.db.write() as session:
        key_id, private = actor_keys.ed25519_signing_key(
            session, config=instance.config, kind="association", owner_id=association.id
        )
    issuer.keys[:] = [(key_id, private, None)]
    return issuer.sign(issuer.summary(month=month, minutes=minutes), created=utcnow())


async def _online(home: Any, bundle: dict[str, Any]) -> list[str]:
    async with home.client() as client:
        lookup = await attestations.fetch_signers(home.db, client, home.config, bundle)
    return [v.verdict for v in attestations.verify_bundle(bundle, online_fetch=lookup)]


async def test_online_verification_survives_a_key_rotation(tmp_path: Path) -> None:
    router = Router()
    home, issuing = make_instance(tmp_path, "a", router), make_instance(tmp_path, "b", router)
    owner = quick_user(issuing.db)
    association = make_association(issuing.db, owner, name="Les Amis de Bé")
    before = _sign_as(issuing, association, "2024-05", 90)
    with issuing.db.write() as session:
        old_key_id, old_key = actor_keys.ed25519_signing_key(
            session, config=issuing.config, kind="association", owner_id=association.id
        )
    bundle = {"summaries": [before], "verificationMethods": []}
    assert await _online(home, bundle) == ["valid"]
    assert attestations.verify_bundle(bundle)[0].verdict == "key unknown"  # offline: no key

    with issuing.db.write() as session:
        actor_keys.rotate_keys(
            session, config=issuing.config, kind="association", owner_id=association.id
        )
    after = _sign_as(issuing, association, "2024-06", 30)
    assert after["proof"]["verificationMethod"] != old_key_id
    late = Issuer(host="b.test", slug=association.slug, keys=[(old_key_id, old_key, None)])
    forged = late.sign(late.summary(month="2024-07"), created=utcnow() + timedelta(seconds=5))
    tampered = dict(before, minutes=9000)
    bundle = {"summaries": [before, after, forged, tampered], "verificationMethods": []}
    assert await _online(home, bundle) == ["valid", "valid", "key unknown", "tampered"]

    router.down.add("b.test")
    assert await _online(home, bundle) == ["key unknown"] * 4  # no key: nothing to tell


# The PDF


def _pdf_text(content: bytes) -> str:
    """The text of the PDF's content streams (core font: plain strings)."""
    found = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", content, re.S):
        try:
            found.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            continue
    text = "\n".join(found)
    return text.replace("\\(", "(").replace("\\)", ")").replace("\\\\", "\\")


async def test_the_pdf_says_who_signed_what(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(db)
    user = world.volunteer
    issuer = Issuer(name="Les Amis du Quartier")
    remote_hours(db, user, issuer, {"2024-05": 90, "2024-06": 30})
    headers = headers_for(db, user)
    answer = await client.get("/api/v1/me/attestation.pdf", headers=headers)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF-") and answer.content.rstrip().endswith(b"%%EOF")
    assert 'filename="' in answer.headers["content-disposition"]
    monkeypatch.setattr(attestation_pdf, "FONT_DIRS", ())  # the core font writes plain text
    english = _pdf_text(
        (
            await client.get(
                "/api/v1/me/attestation.pdf",
                params={"lang": "en", "from": "2024-01"},
                headers=headers,
            )
        ).content
    )
    for text in (
        "Attestation of volunteer hours",
        "Les Amis du Quartier (b.test)",
        "May 2024",
        "1 h 30",
        "Who signed what",
        issuer.key_id,
        "2024-06-01",
        "How to check this attestation",
        "http://testserver/verify",
        world.association.name,
        "Stated by this instance",
    ):
        assert text in english, text
    french = _pdf_text(
        (
            await client.get("/api/v1/me/attestation.pdf", params={"lang": "fr"}, headers=headers)
        ).content
    )
    assert "mai 2024" in french and "juin 2024" in french


async def test_the_browser_downloads_use_the_session(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db)
    issuer = Issuer()
    store_issuer(db, issuer)
    remote_hours(db, world.volunteer, issuer, {"2024-05": 90})
    await sign_in(client, world.volunteer)
    bundle = await client.get("/me/hours/attestation.json", params={"from": "2024-05"})
    assert bundle.status_code == 200 and "attachment" in bundle.headers["content-disposition"]
    assert attestations.all_valid(attestations.verify_bundle(bundle.json()))
    pdf = await client.get("/me/hours/attestation.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert (
        await client.get("/me/hours/attestation.json", params={"to": "nope"})
    ).status_code == 422
    # The API takes tokens only: a session cookie is not enough there.
    assert (await client.get("/api/v1/me/attestation.json")).status_code == 401
    assert datetime.now(UTC) > PROOF_TIME
