"""The monthly public note: its sentence, when it is due, once a month, and to real followers."""

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from federation import monthly_notes as publisher
from instance.config import Config
from instance.monthly_notes import (
    MonthFigures,
    month_figures,
    note_text,
    previous_month,
)
from schema.db import Database, make_engine
from schema.tables import (
    Association,
    Delivery,
    Follow,
    MonthlyNote,
    NetworkProfile,
    OutboxActivity,
    PublicNote,
    RemoteActor,
)
from tests.factories import api_token, csrf_from, log_in, make_user
from tests.federation_support import Stub, wait_for
from tests.live import LiveInstance
from tests.network_support import add_member, add_report, make_network
from tests.test_actions_support import World, make_world, record, set_rules

PARIS = ZoneInfo("Europe/Paris")
MARCH = "2025-03"
IN_APRIL = datetime(2025, 4, 2, 8, 0, tzinfo=UTC)  # March is over; its note is due
FOLLOWER = "https://masto.example/users/camille"


# The sentence


def text(month: str, minutes: int, volunteers: int | None, language: str = "en") -> str | None:
    return note_text(MonthFigures(month, minutes, 1, volunteers), language=language)


def test_english_sentences_and_plurals() -> None:
    assert text("2026-10", 312 * 60, 42) == "In October 2026, 42 volunteers gave 312 hours."
    assert text("2026-10", 60, 1) == "In October 2026, 1 volunteer gave 1 hour."
    assert text("2026-02", 89, 2) == "In February 2026, 2 volunteers gave 1 hour."
    assert text("2026-02", 90, 2) == "In February 2026, 2 volunteers gave 2 hours."  # half up
    assert text("2026-02", 45, 3) == "In February 2026, 3 volunteers gave 45 minutes."
    assert text("2026-02", 1, 1) == "In February 2026, 1 volunteer gave 1 minute."
    assert text("2026-01", 1234 * 60, 1500) == (
        "In January 2026, 1,500 volunteers gave 1,234 hours."
    )
    # A network whose members' reports state no volunteers.
    assert text("2026-10", 300, None) == "In October 2026, volunteers gave 5 hours."


def test_an_empty_month_says_nothing() -> None:
    assert note_text(MonthFigures("2026-10", 0, 0, 0), language="en") is None
    assert note_text(MonthFigures("2026-10", 0, 0, None), language="fr") is None


def test_french_sentences_and_plural_forms() -> None:
    # The shipped French catalogue (French plural rule: 1 and below singular).
    assert text("2026-10", 312 * 60, 42, "fr") == (
        "En octobre 2026, 42 bénévoles ont donné 312 heures."
    )
    assert text("2026-10", 60, 1, "fr") == "En octobre 2026, 1 bénévole a donné 1 heure."
    # French: 1 and below take the singular, 2 and more the plural.
    assert text("2026-08", 30, 2, "fr") == "En août 2026, 2 bénévoles ont donné 30 minutes."
    assert text("2026-08", 1, 1, "fr") == "En août 2026, 1 bénévole a donné 1 minute."
    assert text("2026-01", 1234 * 60, 1500, "fr") == (
        "En janvier 2026, 1\u202f500 bénévoles ont donné 1\u202f234 heures."
    )
    assert text("2026-10", 300, None, "fr") == "En octobre 2026, des bénévoles ont donné 5 heures."


def test_month_names_and_numbers_come_from_babel() -> None:
    found = text("2026-12", 2000 * 60, 3, "fr")
    assert found is not None and "décembre 2026" in found and "2\u202f000" in found


def test_the_month_that_ended_last_in_the_instance_zone() -> None:
    # 31 October 23:30 in Paris is still October there: September is the last ended month.
    assert previous_month(datetime(2026, 10, 31, 22, 30, tzinfo=UTC), PARIS) == "2026-09"
    assert previous_month(datetime(2026, 10, 31, 23, 30, tzinfo=UTC), PARIS) == "2026-10"
    assert previous_month(datetime(2027, 1, 1, 0, 0, tzinfo=UTC), PARIS) == "2026-12"
    assert previous_month(datetime(2026, 3, 15, tzinfo=UTC), PARIS) == "2026-02"


# Figures


def march(db: Database, world: World) -> None:
    """Three actions of two volunteers in March 2025 (travel too when recorded), one in April."""
    record(db, world, date=date(2025, 3, 3), minutes=120)
    record(db, world, date=date(2025, 3, 20), minutes=30)
    travel = {"travel_minutes": 30} if world.association.travel_time_policy != "none" else {}
    record(db, world, world.other, date=date(2025, 3, 9), minutes=60, **travel)
    record(db, world, date=date(2025, 4, 1), minutes=600)


async def test_an_association_states_its_counted_figures(db: Database) -> None:
    world = make_world(db, travel_time_policy="counted")
    march(db, world)
    set_rules(db, world.association, requires_validation=True)
    record(db, world, world.other, date=date(2025, 3, 10), minutes=999)  # pending: not counted
    with db.read() as session:
        found = month_figures(session, association=world.association, month=MARCH)
    assert found == MonthFigures(MARCH, 120 + 30 + 60 + 30, 3, 2)
    set_rules(db, world.association, travel_time_policy="separate")
    with db.read() as session:
        assert month_figures(session, association=world.association, month=MARCH).minutes == 210


async def test_a_network_states_its_members_sums(db: Database) -> None:
    network = make_network(db, make_user(db))
    a, b, c = (add_member(db, network) for _ in range(3))
    add_report(db, network, a, MARCH, minutes=600, actions=4, volunteers=6)
    add_report(db, network, b, MARCH, minutes=300, actions=2, volunteers=5)
    add_report(db, network, c, MARCH, minutes=60, actions=1, proof_status="bad proof")
    with db.read() as session:
        found = month_figures(session, association=network, month=MARCH)
    assert found == MonthFigures(MARCH, 900, 6, 11)  # a person in both counts twice


# Publishing


def opt_in(db: Database, association: Association) -> None:
    set_rules(db, association, monthly_note=True)


def follower(db: Database, association: Association, uri: str = FOLLOWER) -> None:
    """A remote follower of the association, recorded directly."""
    with db.write() as session:
        actor = RemoteActor(uri=uri, host=uri.split("/")[2], inbox=f"{uri}/inbox")
        session.add(actor)
        session.flush()
        session.add(
            Follow(
                direction="in",
                local_kind="association",
                local_id=association.id,
                remote_actor_id=actor.id,
                follow_activity_id=f"{uri}/follow/{association.id}",
                state="accepted",
            )
        )


def rows(db: Database, table: type) -> list:  # type: ignore[type-arg]
    with db.read() as session:
        return list(session.exec(select(table)))


def notes_of(db: Database, association: Association) -> list[str]:
    with db.read() as session:
        query = select(PublicNote.content).where(PublicNote.association_id == association.id)
        return list(session.exec(query))


async def test_published_once_to_followers(db: Database, config: Config) -> None:
    world = make_world(db)
    march(db, world)
    follower(db, world.association)
    opt_in(db, world.association)
    assert publisher.publish_due(db, config, now=IN_APRIL) == 1
    assert notes_of(db, world.association) == ["In March 2025, 2 volunteers gave 4 hours."]
    [activity] = rows(db, OutboxActivity)
    body = json.loads(activity.body)
    assert (body["type"], body["object"]["type"]) == ("Create", "Note")
    assert body["object"]["content"] == "<p>In March 2025, 2 volunteers gave 4 hours.</p>"
    assert "https://www.w3.org/ns/activitystreams#Public" in body["to"]
    # Again, later that month, or by a second worker: nothing more.
    assert publisher.publish_due(db, config, now=IN_APRIL + timedelta(days=3)) == 0
    with pytest.raises(IntegrityError), db.write() as session:
        association = session.get(Association, world.association.id)
        assert association is not None
        publisher.publish_month(
            session, config=config, association=association, month=MARCH, now=IN_APRIL
        )
    assert len(notes_of(db, world.association)) == 1  # the second transaction left nothing
    assert len(rows(db, OutboxActivity)) == 1 and len(rows(db, MonthlyNote)) == 1
    # The next month is due in May.
    assert publisher.publish_due(db, config, now=datetime(2025, 5, 1, 12, tzinfo=UTC)) == 1
    assert len(notes_of(db, world.association)) == 2  # April: 600 minutes


async def test_nothing_for_an_empty_month(db: Database, config: Config) -> None:
    world = make_world(db)
    record(db, world, date=date(2025, 2, 10), minutes=60)
    opt_in(db, world.association)
    assert publisher.publish_due(db, config, now=IN_APRIL) == 1  # decided: nothing to say
    assert notes_of(db, world.association) == [] and rows(db, OutboxActivity) == []
    [decided] = rows(db, MonthlyNote)
    assert (decided.month, decided.note_id) == (MARCH, None)
    assert publisher.publish_due(db, config, now=IN_APRIL) == 0


async def test_only_associations_that_opted_in(db: Database, config: Config) -> None:
    quiet, loud, suspended = make_world(db), make_world(db), make_world(db)
    for world in (quiet, loud, suspended):
        march(db, world)
    opt_in(db, loud.association)
    opt_in(db, suspended.association)
    set_rules(db, suspended.association, is_suspended=True)
    assert publisher.publish_due(db, config, now=IN_APRIL) == 1
    assert [n.association_id for n in rows(db, PublicNote)] == [loud.association.id]


async def test_a_hidden_association_keeps_its_note_at_home(db: Database, config: Config) -> None:
    world = make_world(db)
    march(db, world)
    follower(db, world.association)
    opt_in(db, world.association)
    set_rules(db, world.association, is_hidden=True)
    assert publisher.publish_due(db, config, now=IN_APRIL) == 1
    assert len(notes_of(db, world.association)) == 1 and rows(db, OutboxActivity) == []


async def test_a_network_publishes_its_members_sums(db: Database, config: Config) -> None:
    network = make_network(db, make_user(db))
    other = make_network(db, make_user(db))
    for found in (network, other):
        add_report(db, found, add_member(db, found), MARCH, minutes=300, volunteers=7)
        add_report(db, found, add_member(db, found), MARCH, minutes=180, volunteers=5)
    follower(db, network)
    with db.write() as session:
        profile = session.get(NetworkProfile, network.id)
        assert profile is not None
        profile.monthly_note = True
        session.add(profile)
    opt_in(db, other)  # a network may also opt in from its association settings
    assert publisher.publish_due(db, config, now=IN_APRIL) == 2
    assert notes_of(db, network) == ["In March 2025, 12 volunteers gave 8 hours."]
    assert notes_of(db, other) == ["In March 2025, 12 volunteers gave 8 hours."]
    assert [d.inbox_url for d in rows(db, Delivery)] == [f"{FOLLOWER}/inbox"]  # only the first's


# The setting


async def test_the_setting_on_the_page_and_in_the_api(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db)
    slug = world.association.slug
    await log_in(client, world.owner)
    page = await client.get(f"/associations/{slug}/settings")
    assert 'name="monthly_note"' in page.text and "monthly public note" in page.text
    form = {
        "csrf_token": csrf_from(page.text),
        "name": world.association.name,
        "join_policy": "open",
        "monthly_note": "on",
    }
    assert (await client.post(f"/associations/{slug}/settings", data=form)).status_code == 303
    with db.read() as session:
        assert session.get(Association, world.association.id).monthly_note is True  # type: ignore[union-attr]
    page = await client.get(f"/associations/{slug}/settings")
    assert 'id="f-monthly_note" name="monthly_note" type="checkbox" checked' in page.text
    form = {k: v for k, v in form.items() if k != "monthly_note"}
    form["csrf_token"] = csrf_from(page.text)
    await client.post(f"/associations/{slug}/settings", data=form)
    with db.read() as session:
        assert session.get(Association, world.association.id).monthly_note is False  # type: ignore[union-attr]

    path = f"/api/v1/associations/{slug}"
    headers = await api_token(client, world.owner)
    changed = await client.patch(path, json={"monthly_note": True}, headers=headers)
    assert changed.status_code == 200 and changed.json()["monthly_note"] is True
    for bad in ("yes", 1, None, ["true"]):
        refused = await client.patch(path, json={"monthly_note": bad}, headers=headers)
        assert refused.status_code == 422, bad
        assert "monthly_note" in refused.json()["errors"]
    volunteer = await api_token(client, world.volunteer)
    assert (
        await client.patch(path, json={"monthly_note": False}, headers=volunteer)
    ).status_code == 403
    assert (await client.patch(path, json={"monthly_note": False})).status_code == 401
    with db.read() as session:
        assert session.get(Association, world.association.id).monthly_note is True  # type: ignore[union-attr]


# A live instance and a real follower


def test_the_note_reaches_a_real_follower(
    live: Callable[..., LiveInstance], tmp_path: Path
) -> None:
    peer = Stub(tmp_path / "stub").start()
    try:
        instance = live("a")
        db = Database(make_engine(f"sqlite:///{instance.directory / 'benefed.db'}"))
        month = previous_month(datetime.now(UTC), PARIS)
        day = date.fromisoformat(f"{month}-15")
        world = make_world(db)
        record(db, world, date=day, minutes=90)
        record(db, world, world.other, date=day, minutes=150)
        follower(db, world.association, f"{peer.url}/users/bob")
        with db.write() as session:  # the inbox of the stub (its shared inbox)
            actor = session.exec(select(RemoteActor)).one()
            actor.inbox = f"{peer.url}/inbox"
            session.add(actor)
        opt_in(db, world.association)

        def created() -> list[dict[str, str]]:
            return [e for e in peer.events("processed") if e["type"] == "Create"]

        [event] = wait_for(created, timeout=90, what="the monthly note at the follower")
        [activity] = rows(db, OutboxActivity)
        body = json.loads(activity.body)
        assert event["id"] == body["id"]
        name = date.fromisoformat(f"{month}-01").strftime("%B %Y")
        assert body["object"]["content"] == f"<p>In {name}, 2 volunteers gave 4 hours.</p>"
        page = httpx.get(f"{instance.url}/associations/{world.association.slug}", timeout=30)
        assert f"In {name}, 2 volunteers gave 4 hours." in page.text
        db.dispose()
    finally:
        peer.stop()
