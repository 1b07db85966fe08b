"""Categories, projects and levels: defaults, names, archiving, dated rates and revaluation."""

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from instance import rollups, taxonomy
from instance.errors import Invalid, NotFound
from instance.periods import FIRST_DATE
from instance.valuation import parse_euros, rate_for, value_cents
from schema.db import Database
from schema.tables import Action, Association, Category, Level, LevelRate
from tests.factories import make_association
from tests.test_actions_support import (
    World,
    assert_rollups_exact,
    days_ago,
    make_world,
    quick_user,
    record,
    set_rules,
    today,
)


@pytest.fixture
def world(db: Database) -> World:
    return make_world(db)


def create(db: Database, world: World, kind: str, **values: Any) -> Any:
    with db.write() as session:
        return taxonomy.create_entry(
            session, kind=kind, association=world.association, values=values
        )


def update(db: Database, entry: Any, **values: Any) -> Any:
    with db.write() as session:
        row = session.get(type(entry), entry.id)
        return taxonomy.update_entry(session, entry=row, values=values, today=today())


def test_defaults_are_seeded_once_and_copied(db: Database, world: World) -> None:
    with db.read() as session:
        defaults = session.exec(select(Category).where(col(Category.association_id).is_(None)))
        assert len(defaults.all()) == 12
        default_levels = session.exec(select(Level).where(col(Level.association_id).is_(None)))
        assert len(default_levels.all()) == 3
    names = {category.name for category in world.categories}
    assert {"Instances de gouvernance", "Collecte de fonds", "Autre"} <= names
    assert all(category.default_id is not None for category in world.categories)
    second = make_association(db, quick_user(db))
    with db.write() as session:
        taxonomy.copy_instance_defaults(session, association=second)
        taxonomy.copy_instance_defaults(session, association=second)  # nothing twice
        assert len(taxonomy.list_entries(session, kind="category", association=second)) == 12
        levels = taxonomy.list_entries(session, kind="level", association=second)
        assert len(levels) == 3
        assert all(len(taxonomy.rates(session, level)) == 1 for level in levels)
        defaults = session.exec(select(Category).where(col(Category.association_id).is_(None)))
        assert len(defaults.all()) == 12


def test_names_are_unique_without_case_among_live_entries(db: Database, world: World) -> None:
    with pytest.raises(Invalid) as raised:
        create(db, world, "category", name="  autre ")
    assert raised.value.errors == {"name": "This name is already used."}
    other = next(c for c in world.categories if c.name == "Autre")
    update(db, other, archived=True)
    again = create(db, world, "category", name="AUTRE")
    assert again.name == "AUTRE"
    with pytest.raises(Invalid):
        update(db, other, archived=False)  # its name is taken again
    elsewhere = make_world(db)
    assert create(db, elsewhere, "project", name="Fête").name == "Fête"
    assert create(db, world, "project", name="fête").name == "fête"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": None}, "name"),
        ({"name": 12}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "ok", "description": "x" * 1001}, "description"),
        ({"name": "ok", "description": 5}, "description"),
    ],
)
def test_bad_entries_are_refused(
    db: Database, world: World, values: dict[str, Any], field: str
) -> None:
    with pytest.raises(Invalid) as raised:
        create(db, world, "category", **values)
    assert field in raised.value.errors


def test_entry_values_are_read_strictly() -> None:
    with pytest.raises(Invalid) as raised:
        taxonomy.read_entry_values(
            "level", {"archived": "yes", "hourly_rate": "abc", "effective_from": "demain"}
        )
    assert set(raised.value.errors) == {"archived", "hourly_rate", "effective_from"}
    with pytest.raises(Invalid) as raised:
        taxonomy.read_entry_values("project", {"starts_on": "2024-13-01"})
    assert set(raised.value.errors) == {"starts_on"}
    for bad in ("-1", "1.234", "NaN", True, [], "20000"):
        with pytest.raises(Invalid):
            parse_euros(bad, field="hourly_rate")
    assert parse_euros("12,5", field="x") == 1250 and parse_euros(11.88, field="x") == 1188


def test_project_dates(db: Database, world: World) -> None:
    with pytest.raises(Invalid) as raised:
        create(db, world, "project", name="P", starts_on=days_ago(1), ends_on=days_ago(2))
    assert "ends_on" in raised.value.errors
    project = create(db, world, "project", name="P", starts_on=days_ago(5))
    with pytest.raises(Invalid):
        update(db, project, ends_on=days_ago(6))
    assert update(db, project, ends_on=days_ago(1)).ends_on == days_ago(1)


def test_removing_archives_used_entries_and_deletes_others(db: Database, world: World) -> None:
    used, unused = world.categories[0], world.categories[1]
    record(db, world, category_id=used.id)
    with db.write() as session:
        assert taxonomy.remove_entry(session, entry=session.get(Category, used.id)) == "archived"
        assert taxonomy.remove_entry(session, entry=session.get(Category, unused.id)) == "deleted"
        level = session.get(Level, world.levels[0].id)
        assert taxonomy.remove_entry(session, entry=level) == "deleted"
        assert session.get(Category, unused.id) is None
        assert session.exec(select(LevelRate).where(LevelRate.level_id == level.id)).first() is None
    assert_rollups_exact(db, world.association.id or 0)


def test_entries_of_another_association_are_not_found(db: Database, world: World) -> None:
    elsewhere = make_world(db)
    with db.read() as session:
        for entry_id in (elsewhere.category.id, 999_999, "1", None):
            with pytest.raises(NotFound):
                taxonomy.get_entry(
                    session, kind="category", association=world.association, entry_id=entry_id
                )


def level_named(world: World, name: str) -> Level:
    return next(level for level in world.levels if level.name == name)


def set_rate(db: Database, level: Level, days: int, cents: int) -> None:
    with db.write() as session:
        row = session.get(Level, level.id)
        taxonomy.set_rate(
            session, level=row, effective_from=days_ago(days), hourly_rate_cents=cents
        )


def rates_of(db: Database, *ids: int) -> list[int | None]:
    with db.read() as session:
        return [session.get(Action, i).rate_cents for i in ids]  # type: ignore[union-attr]


def test_dated_rates_value_actions_on_their_day(db: Database, world: World) -> None:
    level = level_named(world, "Tâches courantes")  # 11.88 since 2000
    old = record(db, world, level_id=level.id, date=days_ago(30), minutes=90)
    assert old.rate_cents == 1188
    set_rate(db, level, -10, 2000)  # a rate for the future changes nothing now
    set_rate(db, level, 0, 1500)  # from today on
    assert rates_of(db, old.id) == [1188]
    recent = record(db, world, level_id=level.id, minutes=60)
    assert recent.rate_cents == 1500
    set_rate(db, level, 40, 1300)  # a past rate revalues what it covers, until the next one
    assert rates_of(db, old.id, recent.id) == [1300, 1500]
    set_rate(db, level, 40, 1400)  # the same date replaces the rate
    assert rates_of(db, old.id) == [1400]
    assert_rollups_exact(db, world.association.id or 0)
    with db.read() as session:
        row = session.get(Level, level.id)
        assert row is not None
        rates = taxonomy.rates(session, row)
        assert [rate.effective_from for rate in rates] == [
            FIRST_DATE,
            days_ago(40),
            today(),
            today() + timedelta(days=10),
        ]
        assert taxonomy.current_rate_cents(session, row, today()) == 1500


def test_default_rate_values_actions_without_a_level_rate(db: Database, world: World) -> None:
    plain = record(db, world)
    assert plain.rate_cents is None
    set_rules(db, world.association, default_hourly_rate_cents=1000)
    valued = record(db, world, minutes=45)
    assert valued.rate_cents == 1000 and value_cents(45, 1000) == 750
    bare = create(db, world, "level", name="Sans taux")
    assert record(db, world, level_id=bare.id).rate_cents == 1000
    with db.read() as session:
        assert rate_for(session, world.association, bare.id, today()) == 1000


def test_a_new_default_rate_can_be_applied_to_past_actions(db: Database, world: World) -> None:
    plain = record(db, world, minutes=30)
    leveled = record(db, world, level_id=world.levels[0].id)
    set_rules(db, world.association, default_hourly_rate_cents=2000)
    assert rates_of(db, plain.id) == [None]  # a settings change alone rewrites nothing
    with db.write() as session:
        association = session.get(Association, world.association.id)
        assert rollups.revalue_association(session, association=association) == 1
        assert rollups.revalue_association(session, association=association) == 0
    assert rates_of(db, plain.id, leveled.id) == [2000, leveled.rate_cents]
    assert_rollups_exact(db, world.association.id or 0)


def test_a_new_level_with_a_rate_applies_from_the_start(db: Database, world: World) -> None:
    level = create(db, world, "level", name="Expert", hourly_rate=3000)
    action = record(db, world, level_id=level.id, date=days_ago(300))
    assert action.rate_cents == 3000
    later = update(db, level, hourly_rate=3500)  # from today on: the past keeps its value
    assert later.name == "Expert"
    assert rates_of(db, action.id) == [3000]


def test_value_cents_rounds_half_up_per_action() -> None:
    assert value_cents(1, 1188) == 20  # 19.8 cents
    assert value_cents(90, 1001) == 1502  # 1501.5
    assert value_cents(0, 1188) == 0
    assert value_cents(60, None) == 0
