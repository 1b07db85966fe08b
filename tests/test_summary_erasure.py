"""Issuing side: a deleted account's links end and its actor answers 410; associations gone
(hidden, suspended, archived) send nothing and what home holds stays, until they are back."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from federation import actor_keys, summary_erasure
from instance import account_data, admin, associations
from instance.config import Config
from schema.db import Database
from schema.tables import ActorKey, Association, Follow, Handle, OutboxActivity, SentSummary
from tests.conftest import make_config
from tests.factories import PASSWORD, make_user
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
from tests.test_actions_support import World, make_world, record, set_rules

ACTIVITY_JSON = {"accept": "application/activity+json"}
OTHER = "http://other.test/users/alice"


@pytest.fixture
def config(tmp_path: Path, smtp: tuple[Any, int]) -> Config:
    """Federation on, talking to *.test servers on loopback."""
    return make_config(tmp_path, email={"smtp_port": smtp[1]}, federation={"allow_private": True})


@pytest.fixture
def world(db: Database, config: Config) -> World:
    """An association whose volunteer (keys made) linked their account to a home."""
    found = make_world(db)
    enable_federation(db, found.volunteer)
    link_in(db, found.volunteer)
    with db.write() as session:
        actor_keys.ensure_keys(session, config=config, kind="user", owner_id=found.volunteer.id)
        if session.get(Handle, found.volunteer.username) is None:  # quick_user takes no name
            session.add(Handle(name=found.volunteer.username, kind="user"))
    return found


def outbox_of(db: Database, kind: str) -> list[dict[str, Any]]:
    with db.read() as session:
        rows = session.exec(
            select(OutboxActivity)
            .where(OutboxActivity.activity_type == kind)
            .order_by(col(OutboxActivity.id))
        )
        return [json.loads(row.body) for row in rows]


def follows(db: Database) -> list[Follow]:
    with db.read() as session:
        return list(session.exec(select(Follow).order_by(col(Follow.id))))


def delete(db: Database, world: World) -> None:
    with db.write() as session:
        account_data.delete_account(session, user=world.volunteer, password=PASSWORD)


# -- a deleted account --------------------------------------------------------------------


async def test_deleting_an_account_ends_its_links_both_ways_and_tells_the_other_side(
    db: Database, world: World
) -> None:
    me = f"http://testserver/users/{world.volunteer.username}"
    asked = remote_person(db, OTHER)
    with db.write() as session:  # a link asked from here, still pending
        session.add(
            Follow(
                direction="out",
                local_kind="user",
                local_id=world.volunteer.id,
                remote_actor_id=asked.id or 0,
                follow_activity_id="http://testserver/activities/asked",
            )
        )
    refused = link_in(db, world.volunteer, "http://third.test/users/bob", state="rejected")
    record(db, world, minutes=60)
    delete(db, world)

    assert [(f.state, f.local_id) for f in follows(db)] == [
        ("ended", None),
        ("ended", None),
        ("rejected", None),
    ]
    [reject] = outbox_of(db, "Reject")
    assert reject["actor"] == me and reject["to"] == [HOME]
    assert reject["object"] == {
        "id": f"{HOME}/follows/{world.volunteer.id}",
        "type": "Follow",
        "actor": HOME,
        "object": me,
    }
    assert reject["id"].startswith(f"{me}#end-link-")
    assert inboxes_of(db, reject["id"]) == [f"{HOME}/inbox"]
    [undo] = outbox_of(db, "Undo")
    assert undo["object"]["id"] == "http://testserver/activities/asked"
    assert undo["object"]["actor"] == me and undo["object"]["object"] == OTHER
    assert undo["benefed:erase"] is True and inboxes_of(db, undo["id"]) == [f"{OTHER}/inbox"]
    assert refused.id is not None  # a refused request is not answered twice
    assert [a["type"] for a in outbox_of(db, "Reject") + outbox_of(db, "Undo")] == [
        "Reject",
        "Undo",
    ]
    with db.read() as session:
        keys = session.exec(select(ActorKey).where(ActorKey.owner_kind == "user")).all()
    assert {(k.kind, k.revoked_at is not None) for k in keys} == {
        ("rsa", False),  # still signs the Reject and the Undo at send time
        ("ed25519", True),
    }


async def test_the_deletes_and_the_reject_go_out_in_order_of_the_transaction(
    db: Database, config: Config, world: World
) -> None:
    record(db, world, minutes=60)
    publish(db, config)
    delete(db, world)
    assert sent_rows(db) == []
    [deleted] = activities(db, "Delete")
    [reject] = outbox_of(db, "Reject")
    assert inboxes_of(db, deleted["id"]) == inboxes_of(db, reject["id"]) == [f"{HOME}/inbox"]


async def test_a_deleted_person_answers_410_with_a_tombstone(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    name = world.volunteer.username
    before = await client.get(f"/users/{name}", headers=ACTIVITY_JSON)
    assert before.status_code == 200 and before.json()["type"] == "Person"
    never = make_user(db, username="neverfederated")  # no actor ever: stays 404 when deleted
    with db.write() as session:
        account_data.delete_account(session, user=never, password=PASSWORD)
    delete(db, world)
    gone = await client.get(f"/users/{name}", headers=ACTIVITY_JSON)
    assert gone.status_code == 410
    tombstone = gone.json()
    assert tombstone["type"] == "Tombstone" and tombstone["formerType"] == "Person"
    assert tombstone["id"] == f"http://testserver/users/{name}"
    assert tombstone["deleted"].endswith("Z")
    finger = await client.get(
        "/.well-known/webfinger", params={"resource": f"acct:{name}@testserver"}
    )
    assert finger.status_code == 410
    for missing in ("neverfederated", "nobody-here", name + "x"):
        answer = await client.get(f"/users/{missing}", headers=ACTIVITY_JSON)
        assert answer.status_code == 404, missing
    inbox = await client.post(f"/users/{name}/inbox", content=b"{}")
    assert inbox.status_code in {401, 404, 410}


async def test_a_name_taken_by_an_association_is_not_a_deleted_person(
    client: httpx.AsyncClient, world: World
) -> None:
    answer = await client.get(f"/users/{world.association.slug}", headers=ACTIVITY_JSON)
    assert answer.status_code == 404


# -- associations gone, then back ------------------------------------------------------------


def suspend(db: Database, world: World, suspended: bool) -> None:
    with db.write() as session:
        admin.set_association_suspended(
            session, association_id=world.association.id or 0, suspended=suspended
        )


@pytest.mark.parametrize("flag", ["is_suspended", "is_archived", "is_hidden"])
async def test_an_association_gone_sends_nothing_and_home_keeps_what_it_had(
    db: Database, config: Config, world: World, flag: str
) -> None:
    record(db, world, minutes=60)
    publish(db, config)
    stated = sent_rows(db)[0].body
    set_rules(db, world.association, **{flag: True})
    with db.write() as session:  # a manager's correction while it is gone
        row = session.exec(select(SentSummary)).one()
        row.figures_digest = "changed meanwhile"
        session.add(row)
    assert changes(db) == []  # going away rebuilds nothing
    publish(db, config)
    assert [a["type"] for a in activities(db)] == ["Create"]  # no Delete: frozen at home
    assert [row.body for row in sent_rows(db)] == [stated]
    set_rules(db, world.association, **{flag: False})
    assert [(c.user_id, c.association_id) for c in changes(db)] == [
        (world.volunteer.id, world.association.id)
    ]
    publish(db, config)
    assert [a["type"] for a in activities(db)] == ["Create", "Update"]
    assert activities(db)[-1]["object"]["minutes"] == 60


async def test_actions_while_suspended_reach_home_once_it_is_back(
    db: Database, config: Config, world: World
) -> None:
    record(db, world, minutes=60)
    publish(db, config)
    suspend(db, world, True)
    with db.write() as session:  # changed behind its back (an import, a fix in the database)
        row = session.exec(select(SentSummary)).one()
        row.figures_digest = "stale"
        session.add(row)
    publish(db, config)
    assert [a["type"] for a in activities(db)] == ["Create"]
    suspend(db, world, False)
    publish(db, config)
    assert [a["type"] for a in activities(db)] == ["Create", "Update"]
    suspend(db, world, False)  # restoring what was never gone marks nothing
    assert changes(db) == []


async def test_a_rename_or_an_unrelated_change_does_not_count_as_back(
    db: Database, config: Config, world: World
) -> None:
    record(db, world, minutes=60)
    publish(db, config)
    with db.write() as session:
        association = session.get(Association, world.association.id)
        assert association is not None
        associations.update_settings(
            session, association=association, by=world.owner, description="Nouveau"
        )
    set_rules(db, world.association, is_hidden=False, is_archived=False)
    assert changes(db) == []


async def test_the_hook_is_registered_once(db: Database) -> None:
    summary_erasure._register_hooks()
    summary_erasure._register_hooks()
    assert account_data.BEFORE_DELETE.count(summary_erasure.erase_user) == 1
