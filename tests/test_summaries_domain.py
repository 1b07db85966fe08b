"""Summaries: totals, groups, travel policies, valuation, periods, accounting, speed."""

import statistics
import time
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, insert
from sqlmodel import select

from instance import accounting, actions, rollups, summaries
from instance.errors import Forbidden, Invalid
from instance.periods import FIRST_DATE, Period, resolve_period
from instance.valuation import value_cents
from schema.db import Database
from schema.tables import Action, Membership, User
from tests.test_actions_support import (
    World,
    days_ago,
    decide,
    make_world,
    record,
    set_rules,
    today,
)

YEAR = Period(date(today().year - 1, 1, 1), today())


@pytest.fixture
def world(db: Database) -> World:
    return make_world(db)


class Manager:
    """A caller who sees every action."""

    may_view_all = True


def overview(db: Database, world: World, period: Period) -> Any:
    with db.read() as session:
        return summaries.association_overview(
            session,
            association=world.association,
            caller=Manager(),  # type: ignore[arg-type]
            period=period,
        )


def summary(db: Database, world: World, period: Period = YEAR, **kwargs: Any) -> Any:
    with db.read() as session:
        return summaries.compute_summary(
            session, association=world.association, period=period, **kwargs
        )


def test_only_validated_actions_count_and_pending_shows_apart(db: Database) -> None:
    world = make_world(db, requires_validation=True)
    counted, pending, refused = (record(db, world, minutes=m) for m in (60, 45, 30))
    decide(db, world, world.manager, "validate", [counted.id])
    decide(db, world, world.manager, "refuse", [refused.id], reason="non")
    found = summary(db, world).total
    assert (found.minutes, found.actions, found.volunteers) == (60, 1, 1)
    assert (found.pending_minutes, found.pending_actions) == (45, 1)
    assert pending.status == "pending"


@pytest.mark.parametrize(
    ("policy", "minutes", "travel", "valued"),
    [("counted", 90, 30, "15.00"), ("separate", 60, 30, "10.00"), ("none", 60, 0, "10.00")],
)
def test_travel_time_policy(
    db: Database, policy: str, minutes: int, travel: int, valued: str
) -> None:
    world = make_world(db, default_hourly_rate_cents=1000, travel_time_policy="counted")
    record(db, world, minutes=60, travel_minutes=30)
    set_rules(db, world.association, travel_time_policy=policy)
    found = summary(db, world).total
    assert found.minutes == minutes and found.valued_amount == valued
    assert found.travel_minutes == 30  # always reported, so it can be shown apart


def test_groups_by_each_dimension(db: Database, world: World) -> None:
    first, second = world.categories[0], world.categories[1]
    level = world.levels[0]
    record(db, world, minutes=60, category_id=first.id, level_id=level.id)
    record(db, world, user=world.other, minutes=30, category_id=second.id)
    record(db, world, user=world.other, minutes=15, category_id=first.id, date=days_ago(40))
    by_category = {g.key: g for g in summary(db, world, group_by="category").groups}
    assert by_category[first.id].figures.minutes == 75 and by_category[first.id].label == first.name
    assert by_category[second.id].figures.minutes == 30
    by_level = {g.key: g for g in summary(db, world, group_by="level").groups}
    assert by_level[None].label == "No level" and by_level[None].figures.minutes == 45
    assert by_level[level.id].figures.valued_cents == value_cents(60, level_rate(db, level.id))
    projects = summary(db, world, group_by="project").groups
    assert [(g.key, g.label, g.figures.actions) for g in projects] == [(None, "No project", 3)]
    people = {g.key: g for g in summary(db, world, group_by="volunteer").groups}
    assert people[world.member.id].label == world.volunteer.username
    assert people[world.other_member.id].figures.minutes == 45
    months = summary(db, world, group_by="month").groups
    assert [g.key for g in months] == YEAR.months()
    assert sum(g.figures.minutes for g in months) == 105
    assert max(g.figures.volunteers or 0 for g in months) == 2
    with pytest.raises(Invalid):
        summary(db, world, group_by="colour")


def level_rate(db: Database, level_id: int | None) -> int:
    with db.read() as session:
        rates = session.exec(select(Action.rate_cents).where(Action.level_id == level_id))
        return next(rate for rate in rates if rate is not None)


def test_valuation_is_null_when_nothing_has_a_rate(db: Database, world: World) -> None:
    record(db, world)
    found = summary(db, world)
    assert found.total.valued_amount is None
    assert "hourly rate" in found.method
    assert {rate.level for rate in found.rates} == {level.name for level in world.levels}


def test_managers_only_for_the_association_summary(db: Database, world: World) -> None:
    with db.read() as session:
        for user, allowed in (
            (world.viewer, True),
            (world.manager, True),
            (world.volunteer, False),
        ):
            caller = actions.caller_in(session, world.association, user)
            if allowed:
                summaries.association_summary(
                    session, association=world.association, caller=caller, period=YEAR
                )
            else:
                with pytest.raises(Forbidden):
                    summaries.association_summary(
                        session, association=world.association, caller=caller, period=YEAR
                    )


def test_a_volunteer_s_own_summary(db: Database, world: World) -> None:
    record(db, world, minutes=40, date=days_ago(35))
    record(db, world, minutes=20, category_id=world.categories[2].id)
    record(db, world, user=world.other, minutes=500)
    with db.read() as session:
        member = session.get(Membership, world.member.id)
        assert member is not None
        mine = summaries.volunteer_summary(session, membership=member, period=YEAR)
        by_category = summaries.volunteer_summary(
            session, membership=member, period=YEAR, group_by="category"
        )
        partial = summaries.volunteer_summary(
            session, membership=member, period=Period(days_ago(3), today())
        )
    assert (mine.total.minutes, mine.total.actions, mine.total.volunteers) == (60, 2, 1)
    assert {g.key: g.figures.minutes for g in by_category.groups} == {
        world.category.id: 40,
        world.categories[2].id: 20,
    }
    assert partial.total.minutes == 20


def test_person_hours_per_association_and_month(db: Database, world: World) -> None:
    elsewhere = make_world(db)
    record(db, world, minutes=30, date=days_ago(40))
    record(db, world, minutes=45)
    with db.write() as session:
        member = Membership(association_id=elsewhere.association.id, user_id=world.volunteer.id)
        session.add(member)
    record(db, elsewhere, minutes=10)
    with db.read() as session:
        user = session.get(User, world.volunteer.id)
        assert user is not None
        found = {item.association.slug: item for item in summaries.person_hours(session, user=user)}
    mine = found[world.association.slug]
    assert mine.minutes == 75
    assert dict(mine.months) == {
        days_ago(40).strftime("%Y-%m"): 30 + (45 if days_ago(40).month == today().month else 0),
        today().strftime("%Y-%m"): 45 + (30 if days_ago(40).month == today().month else 0),
    }
    assert found[elsewhere.association.slug].minutes == 0  # active, nothing counted yet


def test_accounting_rows(db: Database) -> None:
    world = make_world(db, default_hourly_rate_cents=1200)
    last_year = date(today().year - 1, 6, 15)
    record(db, world, minutes=90, date=last_year)
    record(db, world, minutes=30, date=last_year, category_id=world.categories[1].id)
    with db.read() as session:
        rows = accounting.accounting_rows(
            session, association=world.association, year=last_year.year
        )
        with pytest.raises(Invalid):
            accounting.accounting_rows(session, association=world.association, year=1999)
    debit = [row for row in rows if row.account == "864"]
    credit = [row for row in rows if row.account == "875"]
    assert [row.hours for row in debit] == ["1.50", "0.50"]
    assert sum(r.valued_cents for r in debit) == sum(r.valued_cents for r in credit) == 2400
    assert {row.account_label for row in rows} == {"Personnel bénévole", "Bénévolat"}


def test_periods() -> None:
    day = date(2024, 3, 15)
    assert resolve_period(today=day, preset="this_month") == Period(
        date(2024, 3, 1), date(2024, 3, 31)
    )
    assert resolve_period(today=day, preset="last_year") == Period(
        date(2023, 1, 1), date(2023, 12, 31)
    )
    assert resolve_period(today=day) == Period(date(2024, 1, 1), date(2024, 12, 31))
    assert resolve_period(today=day, start="2024-02-10", end="2024-03-01").month_aligned is False
    assert resolve_period(today=day, start="1990-01-01", end="2024-02-29").start == FIRST_DATE
    for bad in (
        {"preset": "tomorrow"},
        {"start": "x"},
        {"start": "2024-03-02", "end": "2024-03-01"},
    ):
        with pytest.raises(Invalid):
            resolve_period(today=day, **bad)


def brute_force(db: Database, world: World, period: Period, policy: str) -> dict[str, Any]:
    with db.read() as session:
        rows = session.exec(select(Action).where(Action.association_id == world.association.id))
        counted = [
            a for a in rows if period.start <= a.date <= period.end and a.status == "validated"
        ]
    travel = policy == "counted"
    return {
        "minutes": sum(a.minutes + ((a.travel_minutes or 0) if travel else 0) for a in counted),
        "actions": len(counted),
        "volunteers": len({a.membership_id for a in counted}),
        "valued": sum(
            value_cents(a.minutes, a.rate_cents)
            + (value_cents(a.travel_minutes or 0, a.rate_cents) if travel else 0)
            for a in counted
        ),
        "by_category": {
            c: sum(
                a.minutes + ((a.travel_minutes or 0) if travel else 0)
                for a in counted
                if a.category_id == c
            )
            for c in {a.category_id for a in counted}
        },
    }


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.lists(
        st.tuples(
            st.integers(0, 400),
            st.integers(1, 300),
            st.sampled_from(["v", "v", "p", "r"]),
            st.integers(0, 3),
        ),
        max_size=25,
    ),
    ranges=st.lists(st.tuples(st.integers(0, 420), st.integers(0, 420)), min_size=1, max_size=6),
    policy=st.sampled_from(["none", "counted", "separate"]),
)
def test_any_range_equals_a_brute_force_count(
    db: Database, data: list[tuple[int, int, str, int]], ranges: list[tuple[int, int]], policy: str
) -> None:
    world = make_world(db, default_hourly_rate_cents=1111, travel_time_policy="counted")
    rows = []
    for days, minutes, status, index in data:
        rows.append(
            dict(
                association_id=world.association.id,
                membership_id=[world.member, world.other_member][index % 2].id,
                date=days_ago(days),
                minutes=minutes,
                travel_minutes=index * 7 or None,
                category_id=world.categories[index].id,
                status={"v": "validated", "p": "pending", "r": "refused"}[status],
                rate_cents=1111,
            )
        )
    with db.write() as session:
        if rows:
            session.exec(insert(Action), params=rows)  # type: ignore[call-overload]
        rollups.rebuild(session, world.association.id or 0)
    set_rules(db, world.association, travel_time_policy=policy)
    for first, second in ranges:
        period = Period(days_ago(max(first, second)), days_ago(min(first, second)))
        found = summary(db, world, period, group_by="category")
        expected = brute_force(db, world, period, policy)
        assert found.total.minutes == expected["minutes"]
        assert found.total.actions == expected["actions"]
        assert found.total.volunteers == expected["volunteers"]
        assert (found.total.valued_cents or 0) == expected["valued"]
        assert {g.key: g.figures.minutes for g in found.groups} == expected["by_category"]
        page = overview(db, world, period)  # the statistics page's sums, read their own way
        assert page["category"].groups == found.groups
        assert page["month"].total == found.total
        volunteers = summary(db, world, period, group_by="volunteer").groups
        assert [(g.key, g.figures.minutes) for g in page["volunteer"].groups] == [
            (g.key, g.figures.minutes) for g in volunteers
        ]


def test_month_aligned_summaries_read_only_rollups_and_are_fast(db: Database, world: World) -> None:
    many = [
        dict(
            association_id=world.association.id,
            membership_id=world.member.id if i % 2 else world.other_member.id,
            date=days_ago(i % 700),
            minutes=30 + i % 90,
            category_id=world.categories[i % 12].id,
            level_id=world.levels[i % 3].id,
            status="validated",
            rate_cents=1188,
        )
        for i in range(20_000)
    ]
    with db.write() as session:
        session.exec(insert(Action), params=many)  # type: ignore[call-overload]
        rollups.rebuild(session, world.association.id or 0)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        timings = []
        for preset in ("this_month", "this_year", "last_year") * 10:
            period = resolve_period(today=today(), preset=preset)
            started = time.perf_counter()
            summary(db, world, period, group_by="month")
            timings.append(time.perf_counter() - started)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert not [s for s in statements if "FROM volunteer_action" in s]
    assert statistics.median(timings) < 0.006, timings  # typically under 1 ms
