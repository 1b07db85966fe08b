"""The fast paths: list totals from rollups, pages pending first, the statistics overview."""

import random
import socket
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert
from sqlmodel import col, select

from instance import action_lists, rollups, summaries, taxonomy
from instance.action_lists import SMALL_LIST, conditions, grouped_totals, pending_first_page
from instance.action_rules import ActionFilters, Caller
from instance.periods import Period
from schema.db import Database
from schema.tables import Action, ApiToken, Membership
from tests.factories import log_in, make_membership
from tests.test_actions_support import (
    World,
    days_ago,
    headers_for,
    make_world,
    quick_user,
    record,
    today,
)
from web.auth import TokenUseMiddleware
from web.commands.server import listening_socket


def seed(db: Database, world: World, count: int) -> None:
    """Bulk actions over ~14 months, every status, then exact rollups."""
    chance = random.Random(7)
    members = [world.member.id, world.other_member.id]
    rows = [
        dict(
            association_id=world.association.id,
            membership_id=chance.choice(members),
            date=days_ago(chance.randint(0, 430)),
            minutes=chance.choice((15, 30, 60, 90)),
            travel_minutes=chance.choice((None, 10)),
            distance_hundredths=chance.choice((None, 350)),
            category_id=world.categories[chance.randint(0, 3)].id,
            level_id=chance.choice([None, world.levels[0].id]),
            status=chance.choice(("validated", "validated", "pending", "refused")),
            rate_cents=1200,
        )
        for _ in range(count)
    ]
    with db.write() as session:
        session.exec(insert(Action), params=rows)  # type: ignore[call-overload]
        rollups.rebuild(session, world.association.id or 0)


@pytest.fixture
def big(db: Database) -> World:
    world = make_world(db)
    seed(db, world, SMALL_LIST + 500)
    return world


def filter_cases(world: World) -> list[ActionFilters]:
    first = world.categories[0].id
    return [
        ActionFilters(),
        ActionFilters(start=days_ago(200), end=days_ago(20)),
        ActionFilters(start=days_ago(400).replace(day=1)),
        ActionFilters(category_id=first, start=days_ago(300)),
        ActionFilters(volunteer_id=world.member.id, end=days_ago(3)),
        ActionFilters(level_id=world.levels[0].id, status="validated"),
        ActionFilters(status="refused", start=days_ago(100)),
        ActionFilters(status="pending"),
        ActionFilters(category_id=first, volunteer_id=world.other_member.id),
        ActionFilters(start=days_ago(5), end=days_ago(50)),
    ]


def test_rollup_totals_equal_the_actions_added_up(db: Database, big: World) -> None:
    association_id = big.association.id or 0
    counts = []
    with db.read() as session:
        for filters in filter_cases(big):
            where = [Action.association_id == association_id, *conditions(filters)]
            expected = grouped_totals(session, where)
            found = action_lists.association_totals(
                session, association_id=association_id, filters=filters, membership_id=None
            )
            assert found == expected, filters
            # The list page starts its pages from the totals' pending count.
            assert found.pending_actions == action_lists.pending_count(session, where)
            own = action_lists.association_totals(
                session,
                association_id=association_id,
                filters=filters,
                membership_id=big.member.id,
            )
            mine = grouped_totals(session, [*where, Action.membership_id == big.member.id])
            assert own == mine, filters
            counts.append(expected.count)
    assert counts[0] == SMALL_LIST + 500 and all(counts[:-1]) and counts[-1] == 0


def test_pages_come_pending_first_then_newest(db: Database, big: World) -> None:
    association_id = big.association.id or 0
    with db.read() as session:
        for filters in (ActionFilters(), ActionFilters(category_id=big.categories[1].id)):
            where = [Action.association_id == association_id, *conditions(filters)]
            every = list(session.exec(select(Action).where(*where)).all())
            every.sort(key=lambda a: (a.status != "pending", -a.date.toordinal(), -(a.id or 0)))
            pending = action_lists.pending_count(session, where)
            assert pending == sum(a.status == "pending" for a in every)
            boundary = pending // 20 + 1  # the page where pending actions end
            for page in (1, boundary, boundary + 1, len(every) // 20 + 1):
                items, more = pending_first_page(session, where, page, pending)
                assert [a.id for a in items] == [a.id for a in every[(page - 1) * 20 :][:20]]
                assert more == (page * 20 < len(every))
            beyond, more = pending_first_page(session, where, len(every) // 20 + 5, pending)
            assert beyond == [] and not more


def test_association_pages_equal_the_generic_pages(db: Database, big: World) -> None:
    """Statements built once per set of filters give the pages conditions built each time give."""
    association_id = big.association.id or 0
    with db.read() as session:
        for filters in filter_cases(big):
            for own in (None, big.member.id):
                where = [Action.association_id == association_id, *conditions(filters)]
                if own is not None:
                    where.append(Action.membership_id == own)
                pending = action_lists.pending_count(session, where)
                params = action_lists.list_params(association_id, filters, own)
                for page in (1, pending // 20 + 1, 3):
                    expected = pending_first_page(session, where, page, pending)
                    found = action_lists.association_page(session, params, page, pending)
                    assert found == expected, (filters, own, page)


def test_small_lists_are_added_up_from_the_actions(db: Database) -> None:
    world = make_world(db, travel_time_policy="separate")
    record(db, world, minutes=45, travel_minutes=15)
    with db.read() as session:
        found = action_lists.association_totals(
            session,
            association_id=world.association.id or 0,
            filters=ActionFilters(),
            membership_id=None,
        )
    assert (found.actions, found.minutes, found.travel_minutes, found.count) == (1, 45, 15, 1)


def test_member_choices_are_active_members_and_former_ones_with_actions(db: Database) -> None:
    world = make_world(db)
    record(db, world, user=world.other)
    idle = make_membership(db, world.association, quick_user(db))
    with db.write() as session:
        for member_id in (world.other_member.id, idle.id):
            row = session.get(Membership, member_id)
            assert row is not None
            row.status = "left"
            session.add(row)
    with db.read() as session:
        ids = {i for i, _name in action_lists.member_choices(session, world.association.id or 0)}
    assert world.other_member.id in ids and world.member.id in ids
    assert idle.id not in ids


@pytest.mark.parametrize(
    "period",
    [
        Period(date(today().year - 1, 1, 1), date(today().year, 12, 31)),
        Period(days_ago(300), days_ago(40)),
        Period(days_ago(20), days_ago(20)),
    ],
)
def test_the_overview_equals_each_summary(db: Database, big: World, period: Period) -> None:
    caller = Caller(big.manager, big.manager_member)
    with db.read() as session:
        overview = summaries.association_overview(
            session, association=big.association, caller=caller, period=period
        )
        for name in summaries.GROUPINGS:
            alone = summaries.compute_summary(
                session, association=big.association, period=period, group_by=name
            )
            shown = overview[name]
            assert shown.total == alone.total
            assert [(g.key, g.label) for g in shown.groups] == [
                (g.key, g.label) for g in alone.groups
            ]
            for mine, theirs in zip(shown.groups, alone.groups, strict=True):
                assert mine.figures.minutes == theirs.figures.minutes
                assert mine.figures.actions == theirs.figures.actions
                if name not in {"month", "volunteer"}:
                    assert mine.figures == theirs.figures


def token_row(db: Database) -> ApiToken:
    with db.read() as session:
        return session.exec(select(ApiToken).order_by(col(ApiToken.id).desc())).first()


def make_stale(db: Database) -> Any:
    with db.write() as session:
        row = session.get(ApiToken, token_row(db).id)
        assert row is not None and row.last_used_at is not None
        row.last_used_at = row.last_used_at - timedelta(minutes=2)
        session.add(row)
        return row.last_used_at


async def test_a_change_stamps_its_token_once_a_minute(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db)
    headers = headers_for(db, world.volunteer)
    url = f"/api/v1/associations/{world.association.slug}/actions"
    body = {"minutes": 30, "category_id": world.category.id}
    assert token_row(db).last_used_at is None
    # A refused change leaves everything as it was, the token's stamp too.
    refused = await client.post(url, json={"minutes": "x"}, headers=headers)
    assert refused.status_code == 422
    assert token_row(db).last_used_at is None
    assert (await client.post(url, json=body, headers=headers)).status_code == 201
    stamped = token_row(db).last_used_at
    assert stamped is not None
    assert (await client.post(url, json=body, headers=headers)).status_code == 201
    assert token_row(db).last_used_at == stamped  # less than a minute ago: not written again
    before = make_stale(db)
    assert (await client.post(url, json=body, headers=headers)).status_code == 201
    assert token_row(db).last_used_at > before + timedelta(minutes=1)


async def test_a_successful_read_stamps_its_token(app: Any, db: Database) -> None:
    world = make_world(db)
    headers = headers_for(db, world.volunteer)
    url = f"/api/v1/associations/{world.association.slug}/actions"
    transport = httpx.ASGITransport(app=TokenUseMiddleware(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        hidden = await client.get("/api/v1/associations/nowhere/actions", headers=headers)
        assert hidden.status_code == 404
        assert token_row(db).last_used_at is None  # refused: nothing written
        assert (await client.get(url, headers=headers)).status_code == 200
        stamped = token_row(db).last_used_at
        assert stamped is not None
        assert (await client.get(url, headers=headers)).status_code == 200
        assert token_row(db).last_used_at == stamped


async def test_recording_refuses_a_project_of_another_association(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db)
    other = make_world(db)
    with db.write() as session:
        for owner in (world, other):
            taxonomy.create_entry(
                session, kind="project", association=owner.association, values={"name": "Fête"}
            )
        foreign = taxonomy.list_entries(session, kind="project", association=other.association)
    await log_in(client, world.volunteer)
    page = await client.get(f"/associations/{world.association.slug}/actions/new")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    data: dict[str, Any] = {
        "csrf_token": token,
        "duration": "60",
        "date": today().isoformat(),
        "category_id": str(world.category.id),
        "project_id": str(foreign[0].id),
    }
    response = await client.post(f"/associations/{world.association.slug}/actions/new", data=data)
    assert response.status_code == 422
    assert "Choose an entry of this association." in response.text


def test_the_workers_socket_skips_nagle() -> None:
    sock = listening_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert sock.get_inheritable()
    finally:
        sock.close()
    with pytest.raises(SystemExit):
        taken = listening_socket("127.0.0.1", 0)
        taken.listen()
        try:
            listening_socket("127.0.0.1", taken.getsockname()[1])
        finally:
            taken.close()
