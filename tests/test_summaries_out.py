"""Issuing side of a person's hours: signed summaries built, coalesced, sent, erased."""

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from federation import actor_keys, keys, proofs, signatures, summaries_out, summary_erasure
from instance import account_data, actions, associations, summary_changes, taxonomy
from instance.config import Config
from instance.errors import Invalid
from schema.db import Database
from schema.tables import Action, Association, Follow, LevelRate, PeerHost, SentSummary
from schema.tables._base import utcnow
from schema.vocabulary import context_document as load_context
from schema.vocabulary import load_schema, summary_context, validation
from tests.conftest import make_config
from tests.factories import PASSWORD, log_in, post_form
from tests.federation_support import FakeActor, FakeServer, cached_key
from tests.summaries_support import (
    HOME,
    activities,
    changes,
    enable_federation,
    inboxes_of,
    link_in,
    publish,
    remote_person,
    sent_rows,
)
from tests.test_actions_support import World, decide, make_world, record, set_rules, today
from web.services import Services

MONTH = f"{today():%Y-%m}"


@pytest.fixture
def config(tmp_path: Path, smtp: tuple[Any, int]) -> Config:
    """The instance under test may talk to other servers on loopback (*.test via the fake)."""
    return make_config(tmp_path, email={"smtp_port": smtp[1]}, federation={"allow_private": True})


@pytest.fixture
def world(db: Database) -> World:
    """An association whose volunteer linked their account to a home instance."""
    found = make_world(db)
    enable_federation(db, found.volunteer)
    link_in(db, found.volunteer)
    return found


def association_key(db: Database, world: World) -> Any:
    with db.read() as session:
        rows = actor_keys.published_keys(session, "association", world.association.id)
    return {
        row.key_id: keys.parse_ed25519_multikey(row.public_key)
        for row in rows
        if row.kind == "ed25519"
    }


def only_object(db: Database) -> dict[str, Any]:
    rows = sent_rows(db)
    assert len(rows) == 1
    return dict(json.loads(rows[0].body))


async def test_a_new_action_sends_a_signed_create_to_the_home_only(
    db: Database, config: Config, world: World
) -> None:
    record(db, world, minutes=90, title="Accueil <b>du</b> samedi")
    assert [(c.user_id, c.month) for c in changes(db)] == [(world.volunteer.id, MONTH)]
    assert publish(db, config) == 1
    assert changes(db) == []
    [create] = activities(db)
    obj = create["object"]
    base = "http://testserver"
    assert create["type"] == "Create"
    assert create["actor"] == f"{base}/users/{world.volunteer.username}"
    assert create["to"] == [HOME] and "cc" not in create
    assert create["id"].startswith(obj["id"] + "#create-")
    assert inboxes_of(db, create["id"]) == [f"{HOME}/inbox"]
    slug = world.association.slug
    assert obj["id"] == f"{base}/associations/{slug}/summaries/{world.volunteer.username}/{MONTH}"
    assert obj["attributedTo"] == f"{base}/associations/{slug}"
    assert obj["volunteer"] == create["actor"] and obj["to"] == [HOME]
    assert (obj["minutes"], obj["actions"], obj["validatedMinutes"], obj["pendingMinutes"]) == (
        90,
        1,
        90,
        0,
    )
    assert obj["minutesByCategory"] == [{"name": world.category.name, "minutes": 90}]
    assert obj["name"] == world.association.name and obj["month"] == MONTH
    assert obj["updated"].endswith("Z")
    assert "title" not in json.dumps(obj) and "samedi" not in json.dumps(obj)  # no raw action
    validation.validate("hours-summary", obj)
    key = association_key(db, world)[obj["proof"]["verificationMethod"]]
    proofs.verify_object(obj, key)
    assert only_object(db) == obj


async def test_edits_update_the_same_id_and_nothing_is_sent_when_figures_stay(
    db: Database, config: Config, world: World
) -> None:
    action = record(db, world, minutes=60)
    publish(db, config)
    with db.write() as session:
        actions.update_action(
            session, action=action, user=world.volunteer, data={"minutes": 75}, today=today()
        )
    publish(db, config)
    with db.write() as session:  # an edit that changes nothing counted: no summary sent
        actions.update_action(
            session,
            action=session.get(Action, action.id),
            user=world.volunteer,
            data={"title": "Autre titre"},
            today=today(),
        )
    publish(db, config)
    kinds = [(a["type"], a["object"]["minutes"]) for a in activities(db)]
    assert kinds == [("Create", 60), ("Update", 75)]
    first, second = activities(db)
    assert first["object"]["id"] == second["object"]["id"]
    assert second["object"]["updated"] > first["object"]["updated"]
    assert len(sent_rows(db)) == 1


async def test_deleting_the_last_action_sends_an_update_to_zero(
    db: Database, config: Config, world: World
) -> None:
    action = record(db, world, minutes=45)
    publish(db, config)
    with db.write() as session:
        actions.delete_action(session, action=session.get(Action, action.id), user=world.volunteer)
    publish(db, config)
    last = activities(db)[-1]
    assert last["type"] == "Update"
    obj = last["object"]
    assert (obj["minutes"], obj["actions"], obj["pendingMinutes"], obj["minutesByCategory"]) == (
        0,
        0,
        0,
        [],
    )
    assert obj["valuedAmount"] is None and obj["currency"] is None
    assert [a["type"] for a in activities(db, "Delete")] == []


async def test_moderated_association_counts_validated_minutes_only(
    db: Database, config: Config, world: World
) -> None:
    set_rules(db, world.association, requires_validation=True)
    first = record(db, world, minutes=30)
    record(db, world, minutes=20)
    publish(db, config)
    obj = activities(db)[-1]["object"]
    assert (obj["minutes"], obj["actions"], obj["validatedMinutes"], obj["pendingMinutes"]) == (
        0,
        0,
        0,
        50,
    )
    decide(db, world, world.manager, "validate", [first.id])
    publish(db, config)
    obj = activities(db)[-1]["object"]
    assert (obj["minutes"], obj["actions"], obj["validatedMinutes"], obj["pendingMinutes"]) == (
        30,
        1,
        30,
        20,
    )


async def test_valued_amount_categories_and_counted_travel(
    db: Database, config: Config, world: World
) -> None:
    set_rules(db, world.association, travel_time_policy="counted")
    level = world.levels[0]
    with db.read() as session:
        rate = session.exec(select(LevelRate).where(LevelRate.level_id == level.id)).first()
    assert rate is not None
    record(db, world, minutes=60, level_id=level.id, travel_minutes=30)
    record(db, world, minutes=30, category_id=world.categories[1].id)
    publish(db, config)
    obj = activities(db)[-1]["object"]
    assert obj["minutes"] == 120 and obj["actions"] == 2
    expected = rate.hourly_rate_cents + (30 * rate.hourly_rate_cents + 30) // 60
    assert obj["valuedAmount"] == f"{expected // 100}.{expected % 100:02d}"
    assert obj["currency"] == "EUR"
    assert obj["minutesByCategory"] == [
        {"name": world.categories[0].name, "minutes": 90},
        {"name": world.categories[1].name, "minutes": 30},
    ]


async def test_renaming_a_category_or_the_association_updates_the_label(
    db: Database, config: Config, world: World
) -> None:
    record(db, world, minutes=60)
    publish(db, config)
    with db.write() as session:
        entry = taxonomy.get_entry(
            session, kind="category", entry_id=world.category.id, association=world.association
        )
        taxonomy.update_entry(
            session, entry=entry, values={"name": "Accueil 🌻 des bénévoles"}, today=today()
        )
    publish(db, config)
    assert (
        activities(db)[-1]["object"]["minutesByCategory"][0]["name"] == "Accueil 🌻 des bénévoles"
    )
    with db.write() as session:
        association = session.get(Association, world.association.id)
        associations.update_settings(
            session, association=association, by=world.owner, name="Les Amis Réunis"
        )
    publish(db, config)
    obj = activities(db)[-1]["object"]
    assert obj["name"] == "Les Amis Réunis"
    proofs.verify_object(obj, association_key(db, world)[obj["proof"]["verificationMethod"]])
    with db.write() as session:  # the same name again: nothing noted
        associations.update_settings(
            session, association=association, by=world.owner, name="Les Amis Réunis"
        )
    assert changes(db) == []


async def test_nothing_is_noted_nor_sent_without_an_accepted_link(
    db: Database, config: Config, world: World
) -> None:
    record(db, world, user=world.other, minutes=60)  # another member: not linked
    assert changes(db) == []
    enable_federation(db, world.other)
    link_in(db, world.other, "http://home.test/users/other", state="pending")
    record(db, world, user=world.other, minutes=60)
    assert changes(db) == []
    assert publish(db, config) == 0 and activities(db) == []


async def test_a_link_accepted_later_sends_every_month(
    db: Database, config: Config, world: World
) -> None:
    enable_federation(db, world.other)
    record(db, world, user=world.other, minutes=60)
    record(
        db,
        world,
        user=world.other,
        minutes=15,
        date=(today().replace(day=1) - timedelta(days=1)).isoformat(),
    )
    link_in(db, world.other, "http://home.test/users/other")
    with db.write() as session:
        assert summary_changes.mark_all_for_user(session, user_id=world.other.id) == 2
    publish(db, config)
    found = sorted((a["object"]["month"], a["object"]["minutes"]) for a in activities(db, "Create"))
    assert [minutes for _month, minutes in found] == [15, 60]


async def test_a_person_without_an_actor_gets_nothing(
    db: Database, config: Config, world: World
) -> None:
    with db.write() as session:
        row = session.get(type(world.volunteer), world.volunteer.id)
        row.federation_enabled = False
        session.add(row)
    record(db, world, minutes=60)
    assert publish(db, config) == 1  # consumed
    assert activities(db) == [] and sent_rows(db) == [] and changes(db) == []


async def test_bursts_are_coalesced(db: Database, config: Config, world: World) -> None:
    record(db, world, minutes=10)
    first = changes(db)[0].created_at
    assert summaries_out.publish_due(db, config, now=utcnow()) == 0  # not settled yet
    wait = summaries_out.seconds_until_due(db, now=utcnow())
    assert wait is not None and 0 <= wait <= summaries_out.QUIET.total_seconds()
    for minutes in (20, 30, 40):
        record(db, world, minutes=minutes)
    assert len(changes(db)) == 4
    ceiling = first.replace(tzinfo=first.tzinfo or utcnow().tzinfo) + summaries_out.MAX_WAIT
    assert publish(db, config, at=ceiling) == 1  # at most MAX_WAIT after the first change
    assert [a["object"]["minutes"] for a in activities(db)] == [100]
    assert summaries_out.seconds_until_due(db, now=utcnow()) is None


async def test_deleting_the_account_queues_deletes_before_the_rows_go(
    db: Database, config: Config, world: World
) -> None:
    record(db, world, minutes=60)
    publish(db, config)
    object_id = sent_rows(db)[0].object_id
    with db.write() as session:
        account_data.delete_account(session, user=world.volunteer, password=PASSWORD)
    assert sent_rows(db) == []
    [deleted] = activities(db, "Delete")
    assert deleted["object"] == {
        "id": object_id,
        "type": "Tombstone",
        "formerType": "HoursSummary",
        "deleted": deleted["object"]["deleted"],
    }
    assert deleted["actor"] == f"http://testserver/users/{world.volunteer.username}"
    assert inboxes_of(db, deleted["id"]) == [f"{HOME}/inbox"]


async def test_a_wrong_password_queues_nothing(db: Database, config: Config, world: World) -> None:
    record(db, world, minutes=60)
    publish(db, config)
    with pytest.raises(Invalid), db.write() as session:
        account_data.delete_account(session, user=world.volunteer, password="not the password")
    assert activities(db, "Delete") == [] and len(sent_rows(db)) == 1


async def test_deleting_the_association_queues_deletes(
    db: Database, config: Config, world: World
) -> None:
    record(db, world, minutes=60)
    record(db, world, minutes=15, date=(today().replace(day=1) - timedelta(days=1)).isoformat())
    publish(db, config)
    with db.write() as session:
        association = session.get(Association, world.association.id)
        associations.delete_association(session, association=association, by=world.owner)
    assert sent_rows(db) == []
    assert len(activities(db, "Delete")) == 2


async def test_a_home_back_from_the_dead_gets_the_current_summaries_again(
    db: Database, config: Config, world: World
) -> None:
    record(db, world, minutes=60)
    publish(db, config)
    with db.write() as session:
        session.add(PeerHost(host="home.test", revived_at=utcnow()))
    with db.write() as session:
        assert summary_erasure.resend_to_host(session, host="home.test", now=utcnow()) == 1
        assert summary_erasure.resend_to_host(session, host="elsewhere.test", now=utcnow()) == 0
    create, again = activities(db)
    assert again["type"] == "Update" and again["object"] == create["object"]


async def test_a_rotated_key_signs_new_versions_and_old_ones_still_verify(
    db: Database, config: Config, world: World
) -> None:
    record(db, world, minutes=60)
    publish(db, config)
    with db.write() as session:
        actor_keys.rotate_keys(
            session, config=config, kind="association", owner_id=world.association.id
        )
    record(db, world, minutes=5)
    publish(db, config)
    first, second = (a["object"] for a in activities(db))
    assert first["proof"]["verificationMethod"] != second["proof"]["verificationMethod"]
    published = association_key(db, world)
    for obj in (first, second):
        proofs.verify_object(obj, published[obj["proof"]["verificationMethod"]])


async def test_two_homes_both_receive_and_are_both_named(
    db: Database, config: Config, world: World
) -> None:
    other_home = "http://other.test/users/alice"
    link_in(db, world.volunteer, other_home)
    remote_person(db, other_home)
    record(db, world, minutes=60)
    publish(db, config)
    [create] = activities(db)
    assert create["object"]["to"] == sorted([HOME, other_home])
    assert inboxes_of(db, create["id"]) == sorted([f"{HOME}/inbox", f"{other_home}/inbox"])


async def test_a_hidden_association_sends_nothing(
    db: Database, config: Config, world: World
) -> None:
    set_rules(db, world.association, is_hidden=True)
    record(db, world, minutes=60)
    publish(db, config)
    assert activities(db) == []
    with db.read() as session:
        assert session.exec(select(SentSummary)).first() is None


async def test_a_failed_deletion_takes_its_deletes_back(
    db: Database, config: Config, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(db, world, minutes=60)
    publish(db, config)

    def fail(_session: Any, _user: Any) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(account_data, "BEFORE_DELETE", [*account_data.BEFORE_DELETE, fail])
    with pytest.raises(RuntimeError), db.write() as session:
        account_data.delete_account(session, user=world.volunteer, password=PASSWORD)
    assert activities(db, "Delete") == [] and len(sent_rows(db)) == 1


# -- the reconciliation collection --------------------------------------------------------


@pytest.fixture
def home(services: Services) -> FakeServer:
    """The home server of the volunteer (serves alice's actor document)."""
    server = FakeServer("home.test")
    server.actor("alice")
    server.actor("mallory", key_index=1)
    services.extras["http_transport"] = server.transport()
    return server


def signed_get(actor: FakeActor, path: str, **options: Any) -> dict[str, str]:
    url = f"http://testserver{path}"
    headers = {"Accept": "application/activity+json"}
    added = signatures.sign_request(
        method="GET",
        url=url,
        headers=headers,
        body=None,
        key_id=options.get("key_id", actor.key_id),
        private_key=options.get("key", actor.key),
        now=options.get("now", utcnow()),
    )
    return {**headers, **added}


async def test_the_collection_answers_the_linked_home_only(
    db: Database, config: Config, world: World, client: httpx.AsyncClient, home: FakeServer
) -> None:
    record(db, world, minutes=60)
    record(db, world, minutes=15, date=(today().replace(day=1) - timedelta(days=1)).isoformat())
    publish(db, config)
    path = f"/users/{world.volunteer.username}/summaries"
    response = await client.get(path, headers=signed_get(home.actors["alice"], path))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/activity+json")
    document = response.json()
    assert document["type"] == "OrderedCollection" and document["id"] == f"http://testserver{path}"
    assert document["totalItems"] == 2
    stored = sorted(json.loads(row.body)["id"] for row in sent_rows(db))
    assert sorted(item["id"] for item in document["orderedItems"]) == stored
    for item in document["orderedItems"]:
        validation.validate("hours-summary", item)
    # Another actor of the same server, not linked: 403.
    refused = await client.get(path, headers=signed_get(home.actors["mallory"], path))
    assert refused.status_code == 403
    # Unsigned, a bad signature, a key that is not the actor's, an old date: 401.
    assert (await client.get(path)).status_code == 401
    forged = signed_get(home.actors["alice"], path, key=cached_key(1))
    assert (await client.get(path, headers=forged)).status_code == 401
    stale = signed_get(home.actors["alice"], path, now=utcnow() - timedelta(hours=2))
    assert (await client.get(path, headers=stale)).status_code == 401
    other_path = f"/users/{world.other.username}/summaries"
    wrong_target = signed_get(home.actors["alice"], other_path)
    assert (await client.get(path, headers=wrong_target)).status_code == 401
    # A person without an actor, or nobody: 404.
    assert (
        await client.get(other_path, headers=signed_get(home.actors["alice"], other_path))
    ).status_code == 404
    nobody = "/users/nobody%3Cscript%3E/summaries"
    assert (
        await client.get(nobody, headers=signed_get(home.actors["alice"], nobody))
    ).status_code == 404


async def test_the_collection_ends_with_the_link(
    db: Database, config: Config, world: World, client: httpx.AsyncClient, home: FakeServer
) -> None:
    record(db, world, minutes=60)
    publish(db, config)
    with db.write() as session:
        for follow in session.exec(select(Follow)):
            follow.state = "ended"
            session.add(follow)
    path = f"/users/{world.volunteer.username}/summaries"
    response = await client.get(path, headers=signed_get(home.actors["alice"], path))
    assert response.status_code == 403


async def test_the_vocabulary_is_served(client: httpx.AsyncClient) -> None:
    context = await client.get("/ns/benefed.jsonld")
    assert context.status_code == 200
    assert context.headers["content-type"].startswith("application/ld+json")
    terms = context.json()["@context"]
    assert terms["benefed"] == "https://w3id.org/benefed/ns#"
    for term in (
        "HoursSummary",
        "volunteer",
        "month",
        "minutes",
        "actions",
        "validatedMinutes",
        "pendingMinutes",
        "minutesByCategory",
        "valuedAmount",
        "currency",
    ):
        assert term in terms
    schema = await client.get("/ns/hours-summary.schema.json")
    assert schema.status_code == 200
    assert schema.json()["title"] == "HoursSummary"
    assert (await client.post("/ns/benefed.jsonld")).status_code == 405


async def test_a_summary_that_cannot_be_built_does_not_block_the_others(
    db: Database, config: Config, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    enable_federation(db, world.other)
    link_in(db, world.other, "http://home.test/users/other")
    record(db, world, minutes=60)
    record(db, world, user=world.other, minutes=30)
    real = summaries_out.month_figures

    def broken(session: Any, *, association: Any, membership_id: int, month: str) -> Any:
        if membership_id == world.member.id:
            raise ValueError("a bug")
        return real(session, association=association, membership_id=membership_id, month=month)

    monkeypatch.setattr(summaries_out, "month_figures", broken)
    assert publish(db, config) == 2
    assert [a["object"]["minutes"] for a in activities(db)] == [30]
    assert changes(db) == []


def test_the_schema_validator_names_every_problem() -> None:
    assert validation.errors_of({"type": "integer", "minimum": 0}, -1) == ["$: below 0"]
    assert validation.errors_of({"type": "integer"}, 1.0) == ["$: must be of type integer"]
    assert validation.errors_of({"type": "integer"}, True) == ["$: must be of type integer"]
    found = validation.errors_of(
        load_schema("hours-summary"),
        {"type": "Note", "month": "2026-3", "minutesByCategory": [{"name": "", "minutes": 1}]},
    )
    assert "$.type: must be 'HoursSummary'" in found
    assert any(error.startswith("$.month: does not match") for error in found)
    assert "$.minutesByCategory[0].name: too short" in found
    assert "$: proof is missing" in found
    with pytest.raises(KeyError):
        load_schema("no-such-type")
    with pytest.raises(validation.SchemaError) as caught:
        validation.validate("hours-summary", [])
    assert caught.value.errors == ["$: must be of type object"]


def test_the_inline_context_is_the_served_one() -> None:
    context = summary_context()
    assert context[0] == "https://www.w3.org/ns/activitystreams"
    assert context[-1] == load_context()["@context"]
    context[-1]["month"] = "changed"  # a copy each time
    assert summary_context()[-1]["month"] == "benefed:month"


async def test_counting_travel_time_from_the_rules_page_updates_the_minutes(
    db: Database, config: Config, world: World, client: httpx.AsyncClient
) -> None:
    set_rules(db, world.association, travel_time_policy="separate")
    record(db, world, minutes=60, travel_minutes=20)
    publish(db, config)
    assert activities(db)[-1]["object"]["minutes"] == 60
    await log_in(client, world.owner)
    rules = {
        "travel_time_policy": "counted",
        "max_minutes_per_action": "24:00",
        "half_day_minutes": "4:00",
        "earliest_date": "",
        "default_hourly_rate_cents": "",
    }
    path = f"/associations/{world.association.slug}/rules"
    response = await post_form(client, path, rules)
    assert response.status_code == 303, response.text
    publish(db, config)
    assert activities(db)[-1]["object"]["minutes"] == 80
    again = await post_form(client, path, rules)  # the same rules again: nothing noted
    assert again.status_code == 303 and changes(db) == []
