"""Actor documents, collections and content negotiation (same URL, HTML or ActivityPub)."""

from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from federation import actor_keys, keys
from federation.documents import OUTBOX_PAGE_SIZE
from instance.config import Config
from schema.db import Database
from schema.tables import Association, Follow, PublicNote, RemoteActor, User
from schema.tables._base import utcnow
from tests.factories import make_association, make_user
from tests.test_federation_discovery import update
from web.negotiation import ActivityPubNegotiation, wants_activitypub

BASE = "http://testserver"
AP = "application/activity+json"
LD = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture(autouse=True)
def negotiation(app: Starlette) -> None:
    """Wire the negotiation middleware the way web/app.py will."""
    app.add_middleware(ActivityPubNegotiation)


@pytest.fixture
def owner(db: Database) -> User:
    return make_user(db, username="owner")


@pytest.fixture
def association(db: Database, owner: User) -> Association:
    association = make_association(
        db, owner, name="Les <b>Restos</b>", slug="restos", description="Meals.\n\nEvery <day>."
    )
    update(db, Association, association.id, logo="abc.png", approve_follows=True)
    return association


async def get_ap(client: httpx.AsyncClient, path: str, accept: str = AP) -> httpx.Response:
    return await client.get(path, headers={"Accept": accept})


def check_keys(document: dict[str, Any], actor: str) -> None:
    key = document["publicKey"]
    assert key["id"] == f"{actor}#main-key" and key["owner"] == actor
    assert key["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert keys.parse_rsa_public_pem(key["publicKeyPem"]).key_size == 2048
    methods = document["assertionMethod"]
    assert methods[0]["id"] == f"{actor}#ed25519-key"
    assert methods[0]["type"] == "Multikey" and methods[0]["controller"] == actor
    assert methods[0]["publicKeyMultibase"].startswith("z6Mk")
    assert "revoked" not in methods[0]


@pytest.mark.parametrize("accept", [AP, LD, "application/ld+json", f"{AP}, text/html;q=0.5"])
async def test_association_actor_by_negotiation(
    client: httpx.AsyncClient, association: Association, accept: str
) -> None:
    response = await get_ap(client, "/associations/restos", accept)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == AP
    assert response.headers["vary"] == "Accept, Signature"
    document = response.json()
    actor = f"{BASE}/associations/restos"
    assert document["@context"][0] == "https://www.w3.org/ns/activitystreams"
    assert "https://w3id.org/security/v1" in document["@context"]
    assert document["id"] == actor and document["type"] == "Organization"
    assert document["preferredUsername"] == "restos"
    assert document["name"] == "Les <b>Restos</b>"
    assert document["summary"] == "<p>Meals.</p><p>Every &lt;day&gt;.</p>"
    assert document["icon"]["url"] == f"{BASE}/media/logos/abc.png"
    assert document["url"] == actor
    assert document["inbox"] == f"{actor}/inbox"
    assert document["outbox"] == f"{actor}/outbox"
    assert document["followers"] == f"{actor}/followers"
    assert document["following"] == f"{actor}/following"
    assert document["endpoints"] == {"sharedInbox": f"{BASE}/inbox"}
    assert document["manuallyApprovesFollowers"] is True
    assert document["discoverable"] is True
    check_keys(document, actor)


@pytest.mark.parametrize(
    "accept",
    [BROWSER, "text/html", "", "*/*", "application/json", "application/ld+json; profile=\"other\"",
     f"text/html, {AP}", f"{AP};q=0.5, text/html"],
)  # fmt: skip
async def test_association_page_for_browsers(
    client: httpx.AsyncClient, association: Association, accept: str
) -> None:
    response = await client.get("/associations/restos", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Accept" in response.headers["vary"]


def test_wants_activitypub() -> None:
    assert wants_activitypub(AP)
    assert wants_activitypub(LD)
    assert wants_activitypub(f"{AP}, application/ld+json")
    assert wants_activitypub(f"text/html;q=0.1, {AP}")
    assert not wants_activitypub(BROWSER)
    assert not wants_activitypub(f"{AP};q=0")
    assert not wants_activitypub(f"{AP};q=nonsense")
    assert not wants_activitypub(",,,;;;===")


async def test_instance_actor(client: httpx.AsyncClient) -> None:
    for accept in (AP, BROWSER, ""):
        response = await client.get("/actor", headers={"Accept": accept})
        assert response.status_code == 200
        assert response.headers["content-type"] == AP
    document = response.json()
    assert document["type"] == "Application"
    assert document["id"] == f"{BASE}/actor"
    assert document["preferredUsername"] == "testserver"
    assert document["inbox"] == f"{BASE}/actor/inbox"
    hrefs = [item["href"] for item in document["implements"]]
    assert "https://datatracker.ietf.org/doc/html/rfc9421" in hrefs
    check_keys(document, f"{BASE}/actor")
    again = (await client.get("/actor")).json()
    assert again["publicKey"] == document["publicKey"]


async def test_person_actor_is_minimal_and_only_with_federation_on(
    client: httpx.AsyncClient, db: Database
) -> None:
    alice = make_user(db, username="alice", email="alice@example.org")
    assert (await get_ap(client, "/users/alice")).status_code == 404
    update(db, User, alice.id, federation_enabled=True)
    document = (await get_ap(client, "/users/alice")).json()
    assert document["type"] == "Person"
    assert document["preferredUsername"] == "alice"
    assert "name" not in document
    assert "alice@example.org" not in str(document)
    assert document["discoverable"] is False
    check_keys(document, f"{BASE}/users/alice")
    update(db, User, alice.id, display_name="Alice <Martin>")
    assert (await get_ap(client, "/users/alice")).json()["name"] == "Alice <Martin>"
    update(db, User, alice.id, federation_enabled=False)
    assert (await get_ap(client, "/users/alice")).status_code == 404
    assert (await get_ap(client, "/users/alice/outbox")).status_code == 404


async def test_hidden_association_has_no_actor(
    client: httpx.AsyncClient, db: Database, owner: User
) -> None:
    make_association(db, owner, name="Secret", slug="secret", is_hidden=True)
    for path in (
        "/associations/secret",
        "/associations/secret/outbox",
        "/associations/secret/followers",
    ):
        response = await get_ap(client, path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] != AP


@pytest.mark.parametrize("flag", ["is_suspended", "is_archived"])
async def test_gone_association_answers_tombstone(
    client: httpx.AsyncClient, db: Database, association: Association, flag: str
) -> None:
    update(db, Association, association.id, **{flag: True})
    response = await get_ap(client, "/associations/restos")
    assert response.status_code == 410
    document = response.json()
    assert document["type"] == "Tombstone" and document["formerType"] == "Organization"
    assert document["id"] == f"{BASE}/associations/restos"


@pytest.mark.parametrize(
    "path", ["/associations/nobody", "/users/nobody", "/associations/nobody/outbox"]
)
async def test_unknown_actor_is_404(client: httpx.AsyncClient, path: str) -> None:
    assert (await get_ap(client, path)).status_code == 404


async def test_rotation_keeps_the_revoked_key_published(
    client: httpx.AsyncClient, db: Database, config: Config, association: Association
) -> None:
    before = (await get_ap(client, "/associations/restos")).json()
    with db.write() as session:
        actor_keys.rotate_keys(session, config=config, kind="association", owner_id=association.id)
    after = (await get_ap(client, "/associations/restos")).json()
    actor = f"{BASE}/associations/restos"
    assert after["publicKey"]["id"] == f"{actor}#main-key-2"
    assert after["publicKey"]["publicKeyPem"] != before["publicKey"]["publicKeyPem"]
    old, new = after["assertionMethod"]
    assert old["id"] == f"{actor}#ed25519-key" and old["revoked"].endswith("Z")
    assert old["publicKeyMultibase"] == before["assertionMethod"][0]["publicKeyMultibase"]
    assert new["id"] == f"{actor}#ed25519-key-2" and "revoked" not in new


async def test_outbox_pages_public_notes(
    client: httpx.AsyncClient, db: Database, association: Association
) -> None:
    start = utcnow()
    with db.write() as session:
        for number in range(OUTBOX_PAGE_SIZE + 3):
            session.add(
                PublicNote(
                    association_id=association.id,
                    content=f"Note {number} <script>",
                    published_at=start + timedelta(minutes=number),
                )
            )
    outbox = f"{BASE}/associations/restos/outbox"
    collection = (await get_ap(client, "/associations/restos/outbox")).json()
    assert collection["type"] == "OrderedCollection"
    assert collection["totalItems"] == OUTBOX_PAGE_SIZE + 3
    assert collection["first"] == f"{outbox}?page=1"
    first = (await get_ap(client, "/associations/restos/outbox?page=1")).json()
    assert first["type"] == "OrderedCollectionPage" and first["partOf"] == outbox
    assert len(first["orderedItems"]) == OUTBOX_PAGE_SIZE
    newest = first["orderedItems"][0]
    assert newest["type"] == "Create"
    assert newest["actor"] == f"{BASE}/associations/restos"
    assert newest["object"]["type"] == "Note"
    assert newest["object"]["content"] == f"<p>Note {OUTBOX_PAGE_SIZE + 2} &lt;script&gt;</p>"
    assert "https://www.w3.org/ns/activitystreams#Public" in newest["to"]
    assert first["next"] == f"{outbox}?page=2"
    second = (await get_ap(client, "/associations/restos/outbox?page=2")).json()
    assert len(second["orderedItems"]) == 3 and "next" not in second
    for bad in ("0", "-1", "x", "99999999999", "1;DROP TABLE"):
        response = await get_ap(client, f"/associations/restos/outbox?page={bad}")
        assert response.status_code == 404


async def test_note_document_by_negotiation(
    client: httpx.AsyncClient, db: Database, association: Association, owner: User
) -> None:
    other = make_association(db, owner, name="Other", slug="other")
    with db.write() as session:
        note = PublicNote(association_id=association.id, content="Hello\nworld")
        session.add(note)
        session.flush()
        note_id = note.id
    document = (await get_ap(client, f"/associations/restos/notes/{note_id}")).json()
    assert document["id"] == f"{BASE}/associations/restos/notes/{note_id}"
    assert document["attributedTo"] == f"{BASE}/associations/restos"
    assert document["content"] == "<p>Hello<br>world</p>"
    assert (await get_ap(client, f"/associations/other/notes/{note_id}")).status_code == 404
    assert other.slug == "other"
    browser = await client.get(f"/associations/restos/notes/{note_id}", headers={"Accept": BROWSER})
    assert browser.headers["content-type"].startswith("text/html")
    assert "Accept" in browser.headers["vary"]


async def test_followers_and_following_show_totals_only(
    client: httpx.AsyncClient, db: Database, association: Association
) -> None:
    with db.write() as session:
        for number, state in enumerate(["accepted", "accepted", "pending", "rejected"]):
            remote = RemoteActor(uri=f"https://r{number}.example/u", host=f"r{number}.example")
            session.add(remote)
            session.flush()
            session.add(
                Follow(
                    direction="in",
                    local_kind="association",
                    local_id=association.id,
                    remote_actor_id=remote.id,
                    follow_activity_id=f"https://r{number}.example/f",
                    state=state,
                )
            )
    followers = (await get_ap(client, "/associations/restos/followers")).json()
    assert followers["totalItems"] == 2
    assert "orderedItems" not in followers and "items" not in followers
    assert "r0.example" not in str(followers)
    following = (await get_ap(client, "/associations/restos/following")).json()
    assert following["totalItems"] == 0
    for path in ("/actor/followers", "/actor/following", "/actor/outbox"):
        assert (await get_ap(client, path)).json()["totalItems"] == 0
