"""Emails about actions: grouped digests for managers, decisions for their authors."""

from datetime import timedelta

import httpx

from instance import action_mails
from instance.i18n import use_language
from schema.db import Database
from schema.tables import Membership
from schema.tables._base import utcnow
from tests.conftest import SentMail
from tests.factories import make_membership
from tests.test_actions_support import (
    World,
    decide,
    headers_for,
    make_world,
    quick_user,
    record,
)


def digest(db: Database, **kwargs: object) -> list[action_mails.Mail]:
    with db.write() as session:
        return action_mails.pending_digests(session, base_url="http://testserver", **kwargs)  # type: ignore[arg-type]


def validating_world(db: Database) -> World:
    return make_world(db, requires_validation=True)


def test_one_digest_per_manager_who_validates(db: Database) -> None:
    world = validating_world(db)
    first = record(db, world, title="Permanence")
    record(db, world, user=world.other, title="Tri")
    mails = digest(db)
    assert sorted(mail.to for mail in mails) == sorted([world.owner.email, world.manager.email])
    body = mails[0].body
    assert "2 actions are waiting" in body and "Permanence" in body and "Tri" in body
    assert f"/associations/{world.association.slug}/actions/pending" in body
    assert digest(db, quiet_period=timedelta(0)) == []  # already announced
    assert first.status == "pending"


def test_digests_stay_grouped_during_the_quiet_period(db: Database) -> None:
    world = validating_world(db)
    record(db, world)
    assert len(digest(db)) == 2
    record(db, world, title="Later")
    assert digest(db) == []  # within the quiet period: waits
    later = digest(db, now=utcnow() + timedelta(minutes=11))
    assert len(later) == 2 and "Later" in later[0].body and "1 action is waiting" in later[0].body


def test_associations_without_validation_send_nothing(db: Database) -> None:
    world = make_world(db)
    record(db, world)
    assert digest(db) == []


def test_digests_cover_several_associations_in_one_mail(db: Database) -> None:
    first, second = validating_world(db), validating_world(db)
    shared = quick_user(db)
    for world in (first, second):
        with db.write() as session:
            session.add(
                Membership(
                    association_id=world.association.id,
                    user_id=shared.id,
                    role="manager",
                    perm_edit_actions=True,
                )
            )
        record(db, world)
    mails = [mail for mail in digest(db) if mail.to == shared.email]
    assert len(mails) == 1
    assert first.association.name in mails[0].body and second.association.name in mails[0].body


async def test_the_api_sends_the_digest_and_decisions(
    client: httpx.AsyncClient, db: Database, mail: SentMail
) -> None:
    world = validating_world(db)
    path = f"/api/v1/associations/{world.association.slug}/actions"
    created = await client.post(
        path,
        json={"minutes": 60, "category_id": world.category.id, "title": "Accueil"},
        headers=headers_for(db, world.volunteer),
    )
    assert created.status_code == 201
    to_manager = mail.last_to(world.manager.email)
    assert "Accueil" in mail.body(to_manager)
    assert mail.to(world.viewer.email) == []  # sees actions, may not validate them
    manager = headers_for(db, world.manager)
    action_id = created.json()["id"]
    await client.post(path + "/validate", json={"ids": [action_id]}, headers=manager)
    validated = mail.last_to(world.volunteer.email)
    assert validated["Subject"] == "Your actions were validated"
    second = await client.post(
        path,
        json={"minutes": 30, "category_id": world.category.id},
        headers=headers_for(db, world.volunteer),
    )
    await client.post(
        path + "/refuse",
        json={"ids": [second.json()["id"]], "reason": "Déjà saisie"},
        headers=manager,
    )
    refused = mail.last_to(world.volunteer.email)
    assert refused["Subject"] == "An action was refused"
    assert "Déjà saisie" in mail.body(refused)


def test_decisions_are_written_in_the_author_s_language(db: Database) -> None:
    world = validating_world(db)
    english = quick_user(db, language="en")
    make_membership(db, world.association, english)
    action = record(db, world, user=english)
    decided = decide(db, world, world.manager, "refuse", [action.id], reason="No")
    with db.read() as session, use_language("fr"):
        mails = action_mails.decision_mails(
            session, actions=decided, base_url="http://testserver", decided_by=world.manager
        )
        assert [mail.to for mail in mails] == [english.email]
        own = action_mails.decision_mails(
            session, actions=decided, base_url="http://testserver", decided_by=english
        )
        assert own == []  # nobody is told of their own decision
    assert "Reason: No" in mails[0].body
