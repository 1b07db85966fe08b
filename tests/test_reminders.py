"""Reminders to record one's actions, and the periodic round that sends the mails that wait."""

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from instance import accounts
from instance.errors import Invalid
from instance.mail import Mailer
from instance.reminders import due_reminders
from instance.waiting_mail import send_waiting_mail
from schema.db import Database
from schema.tables import Action, User
from schema.tables._base import utcnow
from tests.conftest import SentMail, fresh_database, make_config
from tests.factories import csrf_from
from tests.test_action_pages import sign_in
from tests.test_actions_support import headers_for, make_world, record, set_rules
from web.app import build_services, create_app

BASE = "http://testserver"


def remind(db: Database, user: User, every: str, **fields: object) -> None:
    with db.write() as session:
        accounts.update_profile(session, user=user, reminders=every)
        row = session.get(User, user.id)
        assert row is not None
        for name, value in fields.items():
            setattr(row, name, value)
        session.add(row)


def due(db: Database, when: object) -> list:  # type: ignore[type-arg]
    with db.write() as session:
        return due_reminders(session, base_url=BASE, now=when)  # type: ignore[arg-type]


def test_a_weekly_reminder_comes_once_a_week_while_nothing_is_recorded(db: Database) -> None:
    world = make_world(db)
    remind(db, world.volunteer, "week")
    now = utcnow()
    [mail] = due(db, now)
    assert mail.to == world.volunteer.email
    assert f"{BASE}/associations/{world.association.slug}/actions/new" in mail.body
    assert world.association.name in mail.body and f"{BASE}/account" in mail.body
    assert "every week" in mail.body
    assert due(db, now + timedelta(days=6)) == []  # not yet a week
    assert [m.to for m in due(db, now + timedelta(days=7))] == [world.volunteer.email]


def test_nobody_active_is_nagged_and_nobody_unasked_is_reminded(db: Database) -> None:
    world = make_world(db)
    remind(db, world.volunteer, "month")
    remind(db, world.other, "week", is_suspended=True)
    remind(db, world.viewer, "week", email_confirmed=False)
    record(db, world)  # the volunteer recorded an action today
    now = utcnow()
    assert due(db, now) == []  # the manager never asked; the others are not due
    with db.read() as session:
        reminded = session.get(User, world.volunteer.id)
        assert reminded is not None and reminded.reminded_at is not None  # a new start
    assert [m.to for m in due(db, now + timedelta(days=31))] == [world.volunteer.email]


def test_reminders_are_written_in_the_person_s_language(db: Database) -> None:
    world = make_world(db)
    remind(db, world.volunteer, "week", language="fr")
    [mail] = due(db, utcnow())
    assert (
        mail.subject == "Vous avez fait du bénévolat récemment ? Enregistrez-le en quelques gestes"
    )
    assert "Bonjour" in mail.body and "chaque semaine" in mail.body


def test_people_without_an_active_membership_get_no_reminder(db: Database) -> None:
    world = make_world(db)
    set_rules(db, world.association, is_archived=True)
    remind(db, world.volunteer, "week")
    assert due(db, utcnow()) == []


def test_only_the_offered_choices_are_taken(db: Database) -> None:
    world = make_world(db)
    with db.write() as session, pytest.raises(Invalid) as refused:
        accounts.update_profile(session, user=world.volunteer, reminders="daily")
    assert refused.value.errors == {"reminders": "Choose how often from the list."}


async def test_a_digest_held_back_by_its_quiet_period_goes_with_a_later_round(
    client: httpx.AsyncClient, db: Database, mail: SentMail, config: object
) -> None:
    world = make_world(db, requires_validation=True)
    path = f"/api/v1/associations/{world.association.slug}/actions"
    headers = headers_for(db, world.volunteer)
    category = world.category.id
    first = await client.post(path, json={"minutes": 60, "category_id": category}, headers=headers)
    second = await client.post(
        path, json={"minutes": 30, "category_id": category, "title": "Tri"}, headers=headers
    )
    assert first.status_code == second.status_code == 201
    assert len(mail.to(world.manager.email)) == 1  # the second waits: quiet period
    with db.read() as session:
        waiting = session.get(Action, second.json()["id"])
        assert waiting is not None and waiting.notified_at is None
    mailer = Mailer(config.email, "Benefed")  # type: ignore[attr-defined]
    sent = send_waiting_mail(db, mailer, base_url=BASE, now=utcnow() + timedelta(minutes=11))
    assert sent == 2  # the manager's digest and the owner's
    later = mail.last_to(world.manager.email)
    assert "1 action is waiting" in mail.body(later) and "Tri" in mail.body(later)
    assert send_waiting_mail(db, mailer, base_url=BASE, now=utcnow() + timedelta(minutes=30)) == 0


async def test_the_server_runs_the_rounds_while_it_runs(
    tmp_path: Path, smtp: tuple[SentMail, int]
) -> None:
    sink, port = smtp
    config = make_config(
        tmp_path,
        email={"smtp_port": port, "jobs_every_seconds": 0.05},
        federation={"enabled": False},
    )
    fresh_database(config.database_url).dispose()
    services = build_services(config)
    world = make_world(services.db)
    remind(services.db, world.volunteer, "week")
    app = create_app(config, services=services)
    async with app.router.lifespan_context(app):
        for _ in range(200):
            if sink.to(world.volunteer.email):
                break
            await asyncio.sleep(0.05)
    [reminder] = sink.to(world.volunteer.email)
    assert reminder["Subject"] == "Did you volunteer lately? Record it in a few taps"


async def test_people_choose_their_reminders_in_their_account_and_through_the_api(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db)
    await sign_in(client, world.volunteer)
    page = await client.get("/account")
    assert "Remind me by email to record my actions" in page.text
    data = {"csrf_token": csrf_from(page.text), "display_name": "", "language": "en"}
    saved = await client.post("/account", data={**data, "reminders": "month"})
    assert saved.status_code == 303
    refused = await client.post("/account", data={**data, "reminders": "hourly"})
    assert refused.status_code == 422 and "Choose how often from the list." in refused.text
    headers = headers_for(db, world.volunteer)
    assert (await client.get("/api/v1/me", headers=headers)).json()["reminders"] == "month"
    changed = await client.patch("/api/v1/me", json={"reminders": "week"}, headers=headers)
    assert changed.status_code == 200 and changed.json()["reminders"] == "week"
    wrong = await client.patch("/api/v1/me", json={"reminders": "daily"}, headers=headers)
    assert wrong.status_code == 422
    with db.read() as session:
        stored = session.exec(select(User).where(User.id == world.volunteer.id)).one()
    assert stored.reminders == "week"
