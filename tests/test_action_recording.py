"""Recording in two steps: checked in a read, written in a short write that notices changes.

Whatever changes between the read and the write (a category archived, a member
gone, the association's rules or a rate) is checked again in the write: the
action is refused, or recorded as the rules stand at the write.
"""

from typing import Any

import pytest
from sqlmodel import func, select

from instance import actions
from instance.errors import Forbidden, Invalid
from schema.db import Database
from schema.tables import Action, ActionEvent, Association, Category, LevelRate, Membership
from tests.test_actions_support import World, assert_rollups_exact, days_ago, make_world, today


@pytest.fixture
def world(db: Database) -> World:
    return make_world(db)


def prepare(db: Database, world: World, user: Any = None, **fields: Any) -> actions.Prepared:
    data: dict[str, Any] = {"minutes": 90, "category_id": world.category.id, **fields}
    with db.read() as session:
        return actions.prepare_action(
            session,
            association=world.association,
            user=user or world.manager,
            data=data,
            today=today(),
            source="api",
        )


def write(db: Database, prepared: actions.Prepared) -> Action:
    with db.write() as session:
        return actions.record_prepared(session, prepared)


def change(db: Database, model: Any, row_id: int | None, **values: Any) -> None:
    """Change a row behind the back of the objects the test holds."""
    with db.write() as session:
        row = session.get(model, row_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)


def counts(db: Database) -> tuple[int, int]:
    with db.read() as session:
        found = session.exec(select(func.count()).select_from(Action)).one()
        logged = session.exec(select(func.count()).select_from(ActionEvent)).one()
        return found, logged


def stored(db: Database, action_id: int | None) -> Action:
    with db.read() as session:
        found = session.get(Action, action_id)
        assert found is not None
        return found


def test_nothing_changed_records_what_was_checked(db: Database, world: World) -> None:
    prepared = prepare(db, world, volunteer_id=world.member.id, date=days_ago(3).isoformat())
    assert counts(db) == (0, 0)
    action = write(db, prepared)
    row = stored(db, action.id)
    assert (row.membership_id, row.minutes, row.date, row.source) == (
        world.member.id,
        90,
        days_ago(3),
        "api",
    )
    assert (action.status, action.created_by_id) == ("validated", world.manager.id)
    assert prepared.category_name == world.category.name
    assert counts(db) == (1, 1)
    assert_rollups_exact(db, world.association.id or 0)


def test_a_category_archived_in_between_is_refused(db: Database, world: World) -> None:
    prepared = prepare(db, world)
    change(db, Category, world.category.id, archived=True)
    with pytest.raises(Invalid) as raised:
        write(db, prepared)
    assert "category_id" in raised.value.errors
    assert counts(db) == (0, 0)


def test_a_volunteer_gone_in_between_is_refused(db: Database, world: World) -> None:
    prepared = prepare(db, world, volunteer_id=world.member.id)
    change(db, Membership, world.member.id, status="left")
    with pytest.raises(Invalid) as raised:
        write(db, prepared)
    assert "volunteer_id" in raised.value.errors
    assert counts(db) == (0, 0)


def test_a_manager_demoted_in_between_may_not_record_for_others(db: Database, world: World) -> None:
    prepared = prepare(db, world, volunteer_id=world.member.id)
    change(db, Membership, world.manager_member.id, perm_edit_actions=False)
    with pytest.raises(Forbidden):
        write(db, prepared)
    assert counts(db) == (0, 0)


def test_an_association_suspended_in_between_records_nothing(db: Database, world: World) -> None:
    prepared = prepare(db, world, user=world.volunteer)
    change(db, Association, world.association.id, is_suspended=True)
    with pytest.raises(Forbidden):
        write(db, prepared)
    assert counts(db) == (0, 0)


def test_rules_changed_in_between_apply(db: Database, world: World) -> None:
    prepared = prepare(db, world, user=world.volunteer)
    change(
        db,
        Association,
        world.association.id,
        requires_validation=True,
        default_hourly_rate_cents=1500,
    )
    action = write(db, prepared)
    row = stored(db, action.id)
    assert (row.status, row.rate_cents) == ("pending", 1500)
    assert (action.status, action.rate_cents) == ("pending", 1500)
    assert_rollups_exact(db, world.association.id or 0)


def test_a_level_rate_added_in_between_values_the_action(db: Database, world: World) -> None:
    level = world.levels[0]
    prepared = prepare(db, world, user=world.volunteer, level_id=level.id)
    with db.write() as session:
        session.add(
            LevelRate(level_id=level.id, effective_from=days_ago(30), hourly_rate_cents=2345)
        )
    action = write(db, prepared)
    assert stored(db, action.id).rate_cents == 2345
    assert_rollups_exact(db, world.association.id or 0)


def test_an_association_object_older_than_the_database_is_checked_again(
    db: Database, world: World
) -> None:
    change(db, Association, world.association.id, max_minutes_per_action=60)
    prepared = prepare(db, world, user=world.volunteer)  # world.association still says 24 h
    assert not prepared.current
    with pytest.raises(Invalid) as raised:
        write(db, prepared)
    assert "minutes" in raised.value.errors
    assert counts(db) == (0, 0)
