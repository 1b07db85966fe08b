"""My hours everywhere: local associations and summaries other instances signed, joined.

The helpers at the top build signed HoursSummary objects the way an issuing
instance does (an association's Ed25519 key, eddsa-jcs-2022) and store them as
home receives them; the attestation, CLI and verify page tests use them too.
"""

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import select

from federation import actor_documents, keys, proofs
from instance import person_hours
from instance.errors import Invalid
from instance.person_hours import MonthRange
from schema.db import Database
from schema.tables import Follow, ReceivedSummary, RemoteActor, User
from schema.tables._base import utcnow
from tests.factories import csrf_from
from tests.federation_support import Router, make_instance
from tests.test_action_pages import sign_in
from tests.test_actions_support import headers_for, make_world, quick_user, record, today

SCRIPT = '<script>alert("x")</script>'
CONTEXT: list[Any] = [
    "https://www.w3.org/ns/activitystreams",
    "https://w3id.org/security/data-integrity/v2",
    {
        "benefed": "https://w3id.org/benefed/ns#",
        "HoursSummary": "benefed:HoursSummary",
        "volunteer": {"@id": "benefed:volunteer", "@type": "@id"},
        "month": "benefed:month",
        "minutes": "benefed:minutes",
        "actions": "benefed:actions",
        "validatedMinutes": "benefed:validatedMinutes",
        "pendingMinutes": "benefed:pendingMinutes",
        "minutesByCategory": "benefed:minutesByCategory",
        "valuedAmount": "benefed:valuedAmount",
        "currency": "benefed:currency",
    },
]
PROOF_TIME = datetime(2024, 6, 1, 9, 30, tzinfo=UTC)


@dataclass
class Issuer:
    """An association on another instance: its actor, its Ed25519 keys (oldest first)."""

    host: str = "b.test"
    slug: str = "amis"
    name: str = "Les Amis du Quartier"
    keys: list[tuple[str, Ed25519PrivateKey, datetime | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.keys:
            self.keys.append((f"{self.uri}#ed25519-key", keys.generate_ed25519(), None))

    @property
    def uri(self) -> str:
        return f"http://{self.host}/associations/{self.slug}"

    @property
    def key_id(self) -> str:
        return self.keys[-1][0]

    def rotate(self, when: datetime) -> None:
        """Revoke the current key at ``when`` and add a new one (the old one stays published)."""
        key_id, private, _revoked = self.keys[-1]
        self.keys[-1] = (key_id, private, when)
        self.keys.append(
            (f"{self.uri}#ed25519-key-{len(self.keys) + 1}", keys.generate_ed25519(), None)
        )

    def document(self) -> dict[str, Any]:
        """Its actor document, every Ed25519 key in assertionMethod (revoked ones marked)."""
        methods = []
        for key_id, private, revoked in self.keys:
            method = {
                "id": key_id,
                "type": "Multikey",
                "controller": self.uri,
                "publicKeyMultibase": keys.ed25519_multikey(private),
            }
            if revoked is not None:
                method["revoked"] = revoked.strftime("%Y-%m-%dT%H:%M:%SZ")
            methods.append(method)
        return {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": self.uri,
            "type": "Organization",
            "preferredUsername": self.slug,
            "name": self.name,
            "inbox": f"{self.uri}/inbox",
            "assertionMethod": methods,
        }

    def summary(
        self, *, username: str = "alice", month: str = "2024-05", minutes: int = 90, **extra: Any
    ) -> dict[str, Any]:
        """An unsigned HoursSummary of this association for one person and month."""
        found: dict[str, Any] = {
            "@context": CONTEXT,
            "id": f"{self.uri}/summaries/{username}/{month}",
            "type": "HoursSummary",
            "attributedTo": self.uri,
            "name": self.name,
            "volunteer": f"http://{self.host}/users/{username}",
            "to": ["http://testserver/users/alice"],
            "month": month,
            "minutes": minutes,
            "actions": 2,
            "validatedMinutes": minutes,
            "pendingMinutes": 0,
            "minutesByCategory": [{"name": "Accueil des bénévoles ☕", "minutes": minutes}],
            "valuedAmount": None,
            "currency": None,
            "updated": "2024-06-01T09:00:00Z",
        }
        found.update(extra)
        return found

    def sign(
        self, document: dict[str, Any], *, key: int = -1, created: datetime = PROOF_TIME
    ) -> dict[str, Any]:
        """The document with this association's proof (its current key unless told)."""
        key_id, private, _revoked = self.keys[key]
        return proofs.sign_object(document, private, key_id, created)


def store_issuer(db: Database, issuer: Issuer) -> None:
    """Cache the issuer's actor document as home does after fetching it."""
    fields = actor_documents.actor_fields(issuer.uri, issuer.document())
    with db.write() as session:
        session.add(RemoteActor(**fields, expires_at=utcnow() + timedelta(days=1)))


def receive(
    db: Database,
    user: User,
    signed: dict[str, Any],
    *,
    proof_status: str = "verified",
    deleted: bool = False,
) -> ReceivedSummary:
    """Store a summary as home keeps it: the body exactly as received (here indented)."""
    issuer = signed["attributedTo"]
    row = ReceivedSummary(
        object_id=signed["id"],
        user_id=user.id or 0,
        issuer_uri=issuer,
        issuer_name=signed["name"],
        issuer_host=issuer.split("/")[2],
        subject_uri=signed["volunteer"],
        month=signed["month"],
        minutes=signed["minutes"],
        actions=signed["actions"],
        validated_minutes=signed["validatedMinutes"],
        pending_minutes=signed["pendingMinutes"],
        categories=json.dumps(signed["minutesByCategory"]),
        updated=datetime.fromisoformat(signed["updated"].replace("Z", "+00:00")),
        body=json.dumps(signed, indent=1),
        proof_status=proof_status,
        deleted=deleted,
    )
    with db.write() as session:
        session.add(row)
        session.flush()
        return row


def remote_hours(
    db: Database, user: User, issuer: Issuer, months: dict[str, int], **options: Any
) -> None:
    """Receive one signed summary per month."""
    for month, minutes in months.items():
        receive(db, user, issuer.sign(issuer.summary(month=month, minutes=minutes)), **options)


# Domain


def test_month_ranges_are_checked() -> None:
    assert person_hours.read_month_range("2024-01", "2024-12") == MonthRange("2024-01", "2024-12")
    assert person_hours.read_month_range(None, "") == MonthRange()
    for bad in (
        "2024-13",
        "2024-00",
        "2024-1",
        "24-01",
        "abcd-ef",
        "2024-01-01",
        "1999-12",
        SCRIPT,
        "２０２４-01",
    ):
        try:
            person_hours.read_month_range(bad, None)
        except Invalid as error:
            assert "from" in error.errors
        else:
            raise AssertionError(f"{bad!r} was accepted")
    try:
        person_hours.read_month_range("2024-06", "2024-05")
    except Invalid as error:
        assert "to" in error.errors
    else:
        raise AssertionError("a reversed range was accepted")


def test_local_and_remote_hours_are_joined_by_association(db: Database) -> None:
    world = make_world(db)
    day = today().replace(day=1)
    record(db, world, minutes=45, date=day)
    issuer, other = Issuer(), Issuer(host="c.test", slug="zebres", name="Zèbres solidaires")
    remote_hours(db, world.volunteer, issuer, {"2024-05": 90, "2024-06": 30})
    remote_hours(db, world.volunteer, other, {"2024-05": 15}, proof_status="the key was not found")
    receive(
        db, world.volunteer, issuer.sign(issuer.summary(month="2024-07", minutes=600)), deleted=True
    )
    someone = quick_user(db)
    remote_hours(db, someone, Issuer(host="d.test"), {"2024-05": 999})
    with db.read() as session:
        found = person_hours.combined_hours(session, user=world.volunteer, domain="testserver")
    names = [line.name for line in found.lines]
    assert names == sorted(names, key=str.lower)
    by_name = {line.name: line for line in found.lines}
    local = by_name[world.association.name]
    assert (local.remote, local.instance, local.minutes, local.proof) == (
        False,
        "testserver",
        45,
        "local",
    )
    assert local.months == [(day.strftime("%Y-%m"), 45)] and local.updated is not None
    remote = by_name[issuer.name]
    assert (remote.remote, remote.instance, remote.minutes, remote.proof) == (
        True,
        "b.test",
        120,
        "verified",
    )
    assert remote.months == [("2024-05", 90), ("2024-06", 30)]  # the tombstone is not counted
    assert remote.updated == datetime(2024, 6, 1, 9, tzinfo=UTC)
    assert by_name[other.name].proof == "the key was not found"
    assert found.total_minutes == 45 + 120 + 15
    assert dict(found.by_month)["2024-05"] == 105
    with db.read() as session:
        may = person_hours.combined_hours(
            session,
            user=world.volunteer,
            domain="testserver",
            months=MonthRange("2024-05", "2024-05"),
        )
    assert may.total_minutes == 105
    assert {line.name: line.minutes for line in may.lines}[world.association.name] == 0


def test_a_person_without_anything_has_an_empty_view(db: Database) -> None:
    user = quick_user(db)
    with db.read() as session:
        found = person_hours.combined_hours(session, user=user, domain="testserver")
    assert (found.lines, found.total_minutes, found.by_month) == ([], 0, [])


# API


async def test_the_hours_api_includes_remote_summaries_marked_as_such(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db)
    record(db, world, minutes=60, date=today())
    issuer = Issuer(name=f"Amis {SCRIPT}")
    remote_hours(db, world.volunteer, issuer, {"2024-05": 90, "2024-06": 30})
    receive(
        db, world.volunteer, issuer.sign(issuer.summary(month="2024-08", minutes=5)), deleted=True
    )
    headers = headers_for(db, world.volunteer)
    answer = await client.get("/api/v1/me/hours", headers=headers)
    assert answer.status_code == 200
    data = answer.json()
    assert data["total_minutes"] == 180
    remote = next(item for item in data["associations"] if item["remote"])
    assert remote == {
        "name": issuer.name,
        "slug": None,
        "instance": "b.test",
        "remote": True,
        "minutes": 120,
        "proof": "verified",
        "updated": "2024-06-01T09:00:00Z",
        "months": [{"month": "2024-05", "minutes": 90}, {"month": "2024-06", "minutes": 30}],
    }
    local = next(item for item in data["associations"] if not item["remote"])
    assert local["slug"] == world.association.slug and local["instance"] == "testserver"
    assert local["minutes"] == 60 and local["proof"] == "local"
    assert local["months"] == [{"month": today().strftime("%Y-%m"), "minutes": 60}]
    narrowed = await client.get(
        "/api/v1/me/hours", params={"from": "2024-06", "to": "2024-06"}, headers=headers
    )
    assert narrowed.json()["total_minutes"] == 30
    stranger = await client.get("/api/v1/me/hours", headers=headers_for(db, quick_user(db)))
    assert stranger.json() == {"total_minutes": 0, "associations": []}


async def test_the_hours_api_refuses_bad_months_and_strangers(
    client: httpx.AsyncClient, db: Database
) -> None:
    user = quick_user(db)
    headers = headers_for(db, user)
    for params in (
        {"from": "2024-13"},
        {"to": "may"},
        {"from": "2024-05", "to": "2024-04"},
        {"from": "x" * 5000},
        {"to": SCRIPT},
    ):
        answer = await client.get("/api/v1/me/hours", params=params, headers=headers)
        assert answer.status_code == 422, params
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert set(answer.json()["errors"]) <= {"from", "to"}
    assert (await client.get("/api/v1/me/hours")).status_code == 401
    bad_token = await client.get("/api/v1/me/hours", headers={"Authorization": "Bearer nope"})
    assert bad_token.status_code == 401


# Page


async def test_the_page_shows_remote_associations_with_their_proof(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db)
    year = today().year
    record(db, world, minutes=60, date=today())
    issuer, doubtful = (
        Issuer(name=f"Amis {SCRIPT}"),
        Issuer(host="c.test", slug="zebres", name="Zèbres"),
    )
    remote_hours(db, world.volunteer, issuer, {f"{year}-01": 90})
    remote_hours(
        db, world.volunteer, doubtful, {f"{year}-02": 30}, proof_status="the proof does not match"
    )
    await sign_in(client, world.volunteer)
    page = await client.get("/me/hours")
    assert page.status_code == 200
    html = page.text
    assert SCRIPT not in html and "Amis &lt;script&gt;" in html
    assert re.search(r'id="total-hours">3 h 00<', html)
    assert re.search(r'id="total-associations">3<', html)
    assert "b.test" in html and "c.test" in html and "other instance" in html
    assert "Verified" in html and "Not verified: the proof does not match" in html
    assert "Recorded on this instance" in html
    assert html.count('<svg class="chart" role="img"') == 2
    assert f"/me/hours/attestation.pdf?from={year}-01&amp;to={year}-12" in html
    assert "/me/hours/attestation.json" in html and 'href="/verify"' in html
    assert f"/me/hours/export.csv?from={year}-01&amp;to={year}-12" in html
    last_year = await client.get("/me/hours", params={"preset": "last_year"})
    assert re.search(r'id="total-hours">0 min<', last_year.text)
    custom = await client.get("/me/hours", params={"from": f"{year}-02", "to": f"{year}-02"})
    assert re.search(r'id="total-hours">30 min<', custom.text)
    wrong = await client.get("/me/hours", params={"from": "2024-13", "to": SCRIPT})
    assert wrong.status_code == 200 and "Enter a month like 2024-05." in wrong.text
    assert SCRIPT not in wrong.text


async def test_the_page_has_what_the_former_one_had(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db, requires_validation=True)
    this_month = f"{today():%Y-%m}"
    record(db, world, user=world.manager, minutes=600)  # someone else's time
    await sign_in(client, world.volunteer)
    empty = await client.get("/me/hours", params={"preset": "this_month"})
    assert re.search(r'id="total-hours">0 min<', empty.text)
    assert world.association.name in empty.text  # an active membership shows, even empty
    record(db, world, minutes=45, date=today())  # awaiting validation: not counted
    issuer = Issuer(name="Les Amis de Bé")
    remote_hours(db, world.volunteer, issuer, {this_month: 90})
    page = await client.get("/me/hours", params={"preset": "this_month"})
    html = page.text
    assert re.search(r'id="total-hours">1 h 30<', html)
    assert re.search(r'id="total-actions">2<', html)  # the remote summary counted 2 actions
    assert re.search(r'id="total-pending">45 min<', html)
    assert 'aria-current="true">This month<' in html
    assert "Accueil des bénévoles ☕: 1 h 30" in html  # the remote association's categories
    assert f'href="/associations/{world.association.slug}/actions"' in html
    assert 'href="/me/actions"' in html and "Printable version" in html
    printable = await client.get(
        "/me/hours", params={"from": this_month, "to": this_month, "print": "1"}
    )
    assert printable.status_code == 200 and 'action="/me/hours/refresh"' not in printable.text
    assert "This month</a>" not in printable.text
    days = await client.get(  # the former page's links gave days: their months are shown
        "/me/hours",
        params={"preset": "custom", "from": f"{this_month}-01", "to": f"{this_month}-28"},
    )
    assert re.search(r'id="total-hours">1 h 30<', days.text)
    assert "Enter a month" not in days.text


async def test_the_former_address_moved_here_for_good(
    client: httpx.AsyncClient, db: Database
) -> None:
    moved = await client.get("/me/hours/all", params={"preset": "last_year"})
    assert moved.status_code == 301 and moved.headers["location"] == "/me/hours?preset=last_year"
    bare = await client.get("/me/hours/all")
    assert bare.status_code == 301 and bare.headers["location"] == "/me/hours"
    export = await client.get("/me/hours/all/export.csv", params={"from": "2024-01"})
    assert export.status_code == 301
    assert export.headers["location"] == "/me/hours/export.csv?from=2024-01"
    odd = await client.get("/me/hours/all", params={"q": SCRIPT})
    assert odd.status_code == 301 and "<script>" not in odd.headers["location"]


async def test_the_page_needs_an_account(client: httpx.AsyncClient, db: Database) -> None:
    for path in (
        "/me/hours",
        "/me/hours/export.csv",
        "/me/hours/attestation.pdf",
        "/me/hours/attestation.json",
    ):
        answer = await client.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login"), path


async def test_exports_of_the_combined_months(client: httpx.AsyncClient, db: Database) -> None:
    world = make_world(db)
    record(db, world, minutes=60, date=date(2024, 5, 3))
    issuer = Issuer(name='=HYPERLINK("x")')
    remote_hours(db, world.volunteer, issuer, {"2024-05": 90, "2024-06": 30})
    await sign_in(client, world.volunteer)
    answer = await client.get("/me/hours/export.csv", params={"from": "2024-01", "to": "2024-12"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert 'filename="' in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "Association",
        "Instance",
        "Month",
        "Minutes",
        "Duration (hours, decimal)",
        "Proof",
    ]
    assert ['\'=HYPERLINK("x")', "b.test", "2024-05", "90", "1.50", "Verified"] in rows
    assert [
        world.association.name,
        "testserver",
        "2024-05",
        "60",
        "1.00",
        "Recorded on this instance",
    ] in rows
    assert rows[-1][:5] == ["Total", "", "", "180", "3.00"]
    as_json = await client.get("/me/hours/export.json", params={"from": "2024-06"})
    data = as_json.json()
    assert data["meta"]["from"] == "2024-06" and data["rows"][-1]["minutes"] == 30
    for fmt, kind in (("ods", "opendocument"), ("xlsx", "spreadsheetml")):
        sheet = await client.get(f"/me/hours/export.{fmt}")
        assert sheet.status_code == 200 and kind in sheet.headers["content-type"]
        assert sheet.content[:2] == b"PK"
    assert (await client.get("/me/hours/export.pdf")).status_code == 404
    bad = await client.get("/me/hours/export.csv", params={"from": "2024-99"})
    assert bad.status_code == 422


# The refresh button


def _link(db: Database, user: User, remote_uri: str) -> None:
    """An accepted link from the person here to their actor on another instance."""
    with db.write() as session:
        actor = RemoteActor(
            uri=remote_uri,
            host=remote_uri.split("/")[2],
            type="Person",
            inbox=f"{remote_uri}/inbox",
            expires_at=utcnow() + timedelta(days=1),
        )
        session.add(actor)
        session.flush()
        session.add(
            Follow(
                direction="out",
                local_kind="user",
                local_id=user.id,
                remote_actor_id=actor.id or 0,
                follow_activity_id=f"http://a.test/activities/{user.username}",
                state="accepted",
            )
        )


async def test_refresh_fetches_the_summaries_again(tmp_path: Path) -> None:
    router = Router()
    home = make_instance(tmp_path, "a", router)
    user = quick_user(home.db, federation_enabled=True)
    issuer = Issuer(name="Les Amis de Bé")
    remote = "http://b.test/users/alice"
    signed = issuer.sign(issuer.summary(to=[f"http://a.test/users/{user.username}"]))
    served: list[str] = []

    def serve(request: httpx.Request) -> httpx.Response:
        served.append(str(request.url))
        kind = {"content-type": "application/activity+json"}
        if str(request.url) == f"{remote}/summaries":
            items = {
                "id": f"{remote}/summaries",
                "type": "OrderedCollection",
                "orderedItems": [signed],
            }
            return httpx.Response(200, json=items, headers=kind)
        if str(request.url) == issuer.uri:
            return httpx.Response(200, json=issuer.document(), headers=kind)
        return httpx.Response(404)

    async with home.browser() as browser:
        await sign_in(browser, user)
        token = csrf_from((await browser.get("/me/hours")).text)
        alone = await browser.post("/me/hours/refresh", data={"csrf_token": token})
        assert alone.status_code == 303 and alone.headers["location"] == "/me/hours"
        assert "not linked to another instance" in (await browser.get("/me/hours")).text
        _link(home.db, user, remote)
        down = await browser.post("/me/hours/refresh", data={"csrf_token": token})
        assert down.status_code == 303
        assert "could not be reached: b.test" in (await browser.get("/me/hours")).text
        router.add("b.test", httpx.MockTransport(serve))
        done = await browser.post("/me/hours/refresh", data={"csrf_token": token})
        assert done.status_code == 303
        page = (await browser.get("/me/hours", params={"preset": "all_time"})).text
        assert "are up to date" in page and "Les Amis de Bé" in page and "Verified" in page
        assert f"{remote}/summaries" in served
        refused = await browser.post("/me/hours/refresh", data={"csrf_token": "forged"})
        assert refused.status_code == 403
    with home.db.read() as session:
        rows = list(session.exec(select(ReceivedSummary)))
    assert [(row.month, row.minutes, row.proof_status) for row in rows] == [
        ("2024-05", 90, "verified")
    ]
