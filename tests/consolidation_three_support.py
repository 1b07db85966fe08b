"""Three real instances on loopback for the hours consolidation tests: home A, B and C.

One set of `benefed serve` processes is shared by a test module; each test works
with its own person (a user name of its own on each instance), who owns an
association on B and one on C and links their accounts from A.
"""

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, select

from federation import actor_keys, proofs, urls
from instance.config import Config, load_config
from schema.db import Database
from schema.tables import (
    Association,
    Category,
    InboxItem,
    OutboxActivity,
    ReceivedSummary,
    SentSummary,
    User,
)
from schema.tables._base import utcnow
from tests.factories import PASSWORD, make_association, make_user
from tests.federation_support import FakeActor, signed_headers, wait_for
from tests.live import LiveInstance
from tests.test_federation_live import database, host_of, token

LINKS = "/api/v1/me/links"
REQUESTS = "/api/v1/me/link-requests"


@dataclass
class Trio:
    """Home A and the association instances B and C, with their databases."""

    a: LiveInstance
    b: LiveInstance
    c: LiveInstance
    dbs: dict[str, Database] = field(default_factory=dict)

    def db(self, instance: LiveInstance) -> Database:
        """The instance's database (opened once)."""
        key = instance.url
        if key not in self.dbs:
            self.dbs[key] = database(instance)
        return self.dbs[key]

    def config(self, instance: LiveInstance) -> Config:
        """The instance's configuration, as its server reads it."""
        return load_config(instance.config_path)


STARTUP_SECONDS = 120.0  # the machine may be busy: a server can take long to answer first


def start(instance: LiveInstance) -> LiveInstance:
    """Start (or restart) an instance, waiting longer than LiveInstance does when needed."""
    try:
        return instance.start()
    except AssertionError:
        if instance.process is None or instance.process.poll() is not None:
            raise
        instance.wait_ready(timeout=STARTUP_SECONDS)
        return instance


@contextmanager
def three_instances(root: Path) -> Iterator[Trio]:
    """Start A, B and C at once (migrations run in parallel); stop them all at the end."""
    made = [LiveInstance(root / name) for name in ("a", "b", "c")]
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(start, made))
        yield Trio(*made)
    finally:
        for instance in made:
            instance.stop()


@dataclass
class Person:
    """One person with an account on A, B and C, owning an association on B and on C."""

    trio: Trio
    name: str
    headers: dict[str, dict[str, str]]
    slugs: dict[str, str]
    categories: dict[str, int]

    def call(
        self, instance: LiveInstance, method: str, path: str, **options: Any
    ) -> httpx.Response:
        """An API call as this person on one of the instances."""
        return httpx.request(
            method, instance.url + path, headers=self.headers[instance.url], timeout=30, **options
        )

    def record(self, instance: LiveInstance, minutes: int, **fields: Any) -> dict[str, Any]:
        """Record an action in the person's association on B or C; its JSON."""
        body = {"minutes": minutes, "category_id": self.categories[instance.url], **fields}
        path = f"/api/v1/associations/{self.slugs[instance.url]}/actions"
        answer = self.call(instance, "POST", path, json=body)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def edit(self, instance: LiveInstance, action_id: int, **fields: Any) -> None:
        """Change one of the person's actions."""
        answer = self.call(instance, "PATCH", f"/api/v1/actions/{action_id}", json=fields)
        assert answer.status_code == 200, answer.text

    def delete(self, instance: LiveInstance, action_id: int) -> None:
        """Delete one of the person's actions."""
        answer = self.call(instance, "DELETE", f"/api/v1/actions/{action_id}")
        assert answer.status_code == 204, answer.text

    def own_months(self, instance: LiveInstance) -> dict[str, int]:
        """What B or C itself says of the person's minutes there, by month (GET /me/hours)."""
        hours = self.call(instance, "GET", "/api/v1/me/hours").json()
        lines = [line for line in hours["associations"] if not line["remote"]]
        return {m["month"]: m["minutes"] for line in lines for m in line["months"] if m["minutes"]}

    def hours_on_a(self) -> dict[str, Any]:
        """A's GET /api/v1/me/hours for the person."""
        answer = self.call(self.trio.a, "GET", "/api/v1/me/hours")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def months_on_a(self, instance: LiveInstance) -> dict[str, int]:
        """What A shows of the person's minutes on B or C, by month."""
        host = host_of(instance)
        lines = [
            line
            for line in self.hours_on_a()["associations"]
            if line["remote"] and line["instance"] == host
        ]
        return {m["month"]: m["minutes"] for line in lines for m in line["months"] if m["minutes"]}

    def converged(self, *instances: LiveInstance) -> bool:
        """True when A shows exactly what each instance says."""
        return all(self.months_on_a(i) == self.own_months(i) for i in instances)

    def wait_converged(self, *instances: LiveInstance, what: str) -> None:
        """Poll until A shows exactly each instance's own figures (fails after 30 s)."""
        wait_for(lambda: self.converged(*instances), timeout=30, what=what)

    def statuses(self, instance: LiveInstance, path: str) -> list[str]:
        """The statuses of the person's links (on A) or link requests (on B, C)."""
        items = self.call(instance, "GET", path).json()["items"]
        return [item["status"] for item in items]

    def user_id(self, instance: LiveInstance) -> int:
        """The person's user id on an instance."""
        with self.trio.db(instance).read() as session:
            found = session.exec(select(User.id).where(User.username == self.name)).one()
        assert found is not None
        return found

    def summary_activities(self, instance: LiveInstance) -> int:
        """How many summary activities an instance queued for the person."""
        user_id = self.user_id(instance)
        with self.trio.db(instance).read() as session:
            query = select(OutboxActivity.id).where(
                OutboxActivity.actor_kind == "user",
                OutboxActivity.actor_id == user_id,
                col(OutboxActivity.object_id).contains("/summaries/"),
            )
            return len(list(session.exec(query)))

    def received(self) -> list[ReceivedSummary]:
        """A's summaries about the person (tombstones included)."""
        user_id = self.user_id(self.trio.a)
        with self.trio.db(self.trio.a).read() as session:
            query = select(ReceivedSummary).where(ReceivedSummary.user_id == user_id)
            return list(session.exec(query))


def _turn_on(person: Person, instance: LiveInstance) -> None:
    answer = person.call(instance, "PATCH", "/api/v1/me", json={"federation": True})
    assert answer.status_code == 200 and answer.json()["federation"] is True, answer.text


def _association(db: Database, owner: User, name: str, slug: str) -> int:
    association = make_association(db, owner, name=name, slug=slug)
    with db.read() as session:
        category = session.exec(
            select(Category).where(Category.association_id == association.id)
        ).first()
    assert category is not None and category.id is not None
    return category.id


def make_person(trio: Trio, name: str) -> Person:
    """The person on A, B and C (federation on everywhere), owning an association on B and C."""
    headers: dict[str, dict[str, str]] = {}
    slugs: dict[str, str] = {}
    categories: dict[str, int] = {}
    for instance in (trio.a, trio.b, trio.c):
        owner = make_user(trio.db(instance), username=name, password=PASSWORD)
        headers[instance.url] = token(instance, name, PASSWORD)
        if instance is not trio.a:
            letter = "B" if instance is trio.b else "C"
            slug = f"{name}-{letter.lower()}"
            title = f"Les Amis {letter} de {name} · été"
            categories[instance.url] = _association(trio.db(instance), owner, title, slug)
            slugs[instance.url] = slug
    person = Person(trio, name, headers, slugs, categories)
    for instance in (trio.a, trio.b, trio.c):
        _turn_on(person, instance)
    return person


def ask_link(person: Person, instance: LiveInstance) -> dict[str, Any]:
    """From A, ask the person's account on B or C for a link; wait for the request there."""
    account = f"{person.name}@{host_of(instance)}"
    asked = person.call(person.trio.a, "POST", LINKS, json={"account": account})
    assert asked.status_code == 201, asked.text
    assert asked.json()["status"] == "pending"

    def pending() -> dict[str, Any] | None:
        items = person.call(instance, "GET", REQUESTS).json()["items"]
        return next((item for item in items if item["status"] == "pending"), None)

    request = wait_for(pending, what=f"the link request on {instance.url}")
    assert request["from"] == f"{person.name}@{host_of(person.trio.a)}"
    return {"link": asked.json(), "request": request}


def decide(person: Person, instance: LiveInstance, request_id: int, verb: str) -> str:
    """Accept or refuse a link request on B or C; the status it answers."""
    answer = person.call(instance, "POST", f"{REQUESTS}/{request_id}/{verb}", json={})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["status"])


def link(person: Person, instance: LiveInstance) -> dict[str, Any]:
    """Ask from A, accept on B or C, wait until A sees it active."""
    asked = ask_link(person, instance)
    assert decide(person, instance, asked["request"]["id"], "accept") == "active"
    link_id = asked["link"]["id"]

    def active() -> bool:
        items = person.call(person.trio.a, "GET", LINKS).json()["items"]
        return any(item["id"] == link_id and item["status"] == "active" for item in items)

    wait_for(active, what=f"the link to {instance.url} active on A")
    return asked


def processed_on_a(trio: Trio, activity_ids: list[str]) -> bool:
    """True when A stored and processed every one of these activities."""
    with trio.db(trio.a).read() as session:
        rows = session.exec(select(InboxItem).where(col(InboxItem.activity_id).in_(activity_ids)))
        done = [row for row in rows if row.processed_at is not None]
    return len(done) == len(activity_ids)


# -- forging ----------------------------------------------------------------------------------


def sent_object(person: Person, instance: LiveInstance) -> dict[str, Any]:
    """The signed summary B or C last sent about the person (one month)."""
    user_id = person.user_id(instance)
    with person.trio.db(instance).read() as session:
        row = session.exec(select(SentSummary).where(SentSummary.user_id == user_id)).first()
    assert row is not None
    return dict(json.loads(row.body))


def association_signer(trio: Trio, instance: LiveInstance, slug: str) -> tuple[str, Any]:
    """The key id and Ed25519 private key of an association on B or C (read from its database)."""
    db = trio.db(instance)
    with db.write() as session:
        association = session.exec(select(Association).where(Association.slug == slug)).one()
        return actor_keys.ed25519_signing_key(
            session, config=trio.config(instance), kind="association", owner_id=association.id
        )


def resigned(document: dict[str, Any], key_id: str, private: Any) -> dict[str, Any]:
    """The document with its proof made again by this key."""
    unsigned = {k: v for k, v in document.items() if k != "proof"}
    return proofs.sign_object(unsigned, private, key_id, utcnow())


def post_as_person(
    person: Person, instance: LiveInstance, obj: dict[str, Any], *, to: list[str]
) -> str:
    """POST an Update of obj to A's inbox, HTTP-signed with the person's real key on B or C."""
    config = person.trio.config(instance)
    with person.trio.db(instance).write() as session:
        key_id, key = actor_keys.signing_key(
            session, config=config, kind="user", owner_id=person.user_id(instance)
        )
    actor = urls.actor_uri(config, "user", person.name)
    sender = FakeActor(uri=actor, key=key, key_id=key_id, inbox=f"{actor}/inbox")
    activity = {
        "@context": obj["@context"],
        "id": f"{actor}#forged-{uuid.uuid4().hex}",
        "type": "Update",
        "actor": actor,
        "to": to,
        "object": obj,
    }
    body = json.dumps(activity).encode()
    inbox = f"{person.trio.a.url}/users/{person.name}/inbox"
    answer = httpx.post(
        inbox, content=body, headers=signed_headers(sender, inbox, body), timeout=30
    )
    assert answer.status_code == 202, answer.text
    return str(activity["id"])


def rejections(instance: LiveInstance, sender: str) -> list[str]:
    """Why the instance refused the summaries this actor sent, in order (read from its log)."""
    found = []
    for line in (instance.directory / "server.log").read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = str(entry.get("message", "")) if isinstance(entry, dict) else ""
        if message.startswith("summary ") and f" from {sender} rejected: " in message:
            found.append(message.split(" rejected: ", 1)[1])
    return found
