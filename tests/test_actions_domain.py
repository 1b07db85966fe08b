"""Actions through the domain: fields, the association's rules, permissions, audit trail."""

from datetime import date, timedelta
from typing import Any

import pytest
from sqlmodel import select

from instance import action_rules, actions, taxonomy
from instance.errors import Forbidden, Invalid, NotFound
from schema.db import Database
from schema.tables import Action, ActionEvent, Association, Membership
from tests.factories import make_association, make_membership
from tests.test_actions_support import (
    World,
    assert_rollups_exact,
    days_ago,
    decide,
    make_world,
    quick_user,
    record,
    set_rules,
    today,
)


@pytest.fixture
def world(db: Database) -> World:
    return make_world(db)


def events(db: Database, action_id: int) -> list[ActionEvent]:
    with db.read() as session:
        query = select(ActionEvent).where(ActionEvent.action_id == action_id)
        return list(session.exec(query.order_by(ActionEvent.id)).all())  # type: ignore[arg-type]


def reload(db: Database, action_id: int) -> Action | None:
    with db.read() as session:
        return session.get(Action, action_id)


def edit(db: Database, action: Action, user: Any, **data: Any) -> Action:
    with db.write() as session:
        row = session.get(Action, action.id)
        assert row is not None
        return actions.update_action(session, action=row, user=user, data=data, today=today())


def test_a_volunteer_records_an_action_for_today(db: Database, world: World) -> None:
    action = record(db, world, title="Tri des dons", distance_km="12.5", travel_minutes=None)
    assert action.date == today()
    assert action.membership_id == world.member.id
    assert action.status == "validated"
    assert action.created_by_id == world.volunteer.id
    assert action.source == "web"
    assert action.distance_hundredths == 1250
    trail = events(db, action.id)
    assert [event.kind for event in trail] == ["create"]
    assert trail[0].changes["minutes"] == 60 and trail[0].changes["distance_km"] == "12.50"
    assert trail[0].user_id == world.volunteer.id
    assert_rollups_exact(db, world.association.id or 0)


def test_new_actions_are_pending_when_the_association_validates(db: Database) -> None:
    world = make_world(db, requires_validation=True)
    assert record(db, world).status == "pending"


BAD_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"minutes": 0}, "minutes"),
    ({"minutes": -5}, "minutes"),
    ({"minutes": 24 * 60 + 1}, "minutes"),
    ({"minutes": "60"}, "minutes"),
    ({"minutes": True}, "minutes"),
    ({"minutes": 1.5}, "minutes"),
    ({"minutes": None}, "minutes"),
    ({"date": (today() + timedelta(days=1)).isoformat()}, "date"),
    ({"date": "1999-12-31"}, "date"),
    ({"date": "2024-02-30"}, "date"),
    ({"date": "31/12/2024"}, "date"),
    ({"date": 20240101}, "date"),
    ({"end_date": "2001-01-01", "date": "2002-01-01"}, "end_date"),
    ({"end_date": (today() + timedelta(days=2)).isoformat()}, "end_date"),
    ({"category_id": None}, "category_id"),
    ({"category_id": "x"}, "category_id"),
    ({"category_id": 0}, "category_id"),
    ({"category_id": 999_999}, "category_id"),
    ({"project_id": 999_999}, "project_id"),
    ({"level_id": 999_999}, "level_id"),
    ({"level_id": [1]}, "level_id"),
    ({"distance_km": "-1"}, "distance_km"),
    ({"distance_km": "12.345"}, "distance_km"),
    ({"distance_km": "abc"}, "distance_km"),
    ({"distance_km": "NaN"}, "distance_km"),
    ({"distance_km": True}, "distance_km"),
    ({"distance_km": "1e9"}, "distance_km"),
    ({"title": "x" * 128}, "title"),
    ({"title": 12}, "title"),
    ({"description": "x" * 5001}, "description"),
    ({"travel_minutes": 30}, "travel_minutes"),
    ({"travel_minutes": -1}, "travel_minutes"),
]


@pytest.mark.parametrize(("fields", "field"), BAD_FIELDS)
def test_bad_fields_are_refused_and_nothing_is_written(
    db: Database, world: World, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(Invalid) as raised:
        record(db, world, **fields)
    assert field in raised.value.errors
    with db.read() as session:
        assert session.exec(select(Action)).first() is None
        assert session.exec(select(ActionEvent)).first() is None
    assert_rollups_exact(db, world.association.id or 0)


def test_missing_minutes_and_category_are_named(db: Database, world: World) -> None:
    with db.write() as session, pytest.raises(Invalid) as raised:
        actions.create_action(
            session, association=world.association, user=world.volunteer, data={}, today=today()
        )
    assert set(raised.value.errors) == {"minutes", "category_id"}


def test_zero_minutes_are_accepted_with_a_distance(db: Database, world: World) -> None:
    action = record(db, world, minutes=0, distance_km=42)
    assert action.minutes == 0 and action.distance_hundredths == 4200


def test_distance_refused_when_the_association_does_not_record_it(db: Database) -> None:
    world = make_world(db, uses_distance=False)
    with pytest.raises(Invalid) as raised:
        record(db, world, distance_km="3")
    assert "distance_km" in raised.value.errors
    with pytest.raises(Invalid):
        record(db, world, minutes=0)


def test_association_limits(db: Database) -> None:
    world = make_world(db, earliest_date=days_ago(10), max_minutes_per_action=120)
    with pytest.raises(Invalid) as raised:
        record(db, world, date=days_ago(11))
    assert "date" in raised.value.errors
    assert record(db, world, date=days_ago(10)).date == days_ago(10)
    with pytest.raises(Invalid):
        record(db, world, minutes=121)
    assert record(db, world, minutes=120).minutes == 120


def test_travel_time_is_recorded_when_the_association_counts_it(db: Database) -> None:
    world = make_world(db, travel_time_policy="separate")
    assert record(db, world, travel_minutes=25).travel_minutes == 25


def test_lenient_reading_for_forms(db: Database, world: World) -> None:
    with db.write() as session:
        action = actions.create_action(
            session,
            association=world.association,
            user=world.volunteer,
            data={"minutes": "90", "category_id": str(world.category.id), "project_id": ""},
            today=today(),
            lenient=True,
        )
    assert action.minutes == 90 and action.project_id is None


def test_entries_of_another_association_are_refused(db: Database, world: World) -> None:
    elsewhere = make_world(db)
    for field, entry in (("category_id", elsewhere.category), ("level_id", elsewhere.levels[0])):
        with pytest.raises(Invalid) as raised:
            record(db, world, **{field: entry.id})
        assert field in raised.value.errors


def make_project(db: Database, association: Association, **values: Any) -> Any:
    with db.write() as session:
        return taxonomy.create_entry(
            session,
            kind="project",
            association=association,
            values={"name": f"Projet {values}", **values},
        )


def archive(db: Database, entry: Any) -> None:
    with db.write() as session:
        row = session.get(type(entry), entry.id)
        taxonomy.update_entry(session, entry=row, values={"archived": True}, today=today())


def test_archived_entries_refused_for_new_actions_and_changes(db: Database, world: World) -> None:
    project = make_project(db, world.association)
    kept = record(db, world, project_id=project.id)
    archive(db, project)
    archive(db, world.category)
    with pytest.raises(Invalid) as raised:
        record(db, world, project_id=project.id, category_id=world.categories[1].id)
    assert "project_id" in raised.value.errors
    with pytest.raises(Invalid) as raised:
        record(db, world)
    assert "category_id" in raised.value.errors
    assert edit(db, kept, world.volunteer, minutes=30).minutes == 30  # unchanged entries stay
    other = record(db, world, category_id=world.categories[1].id)
    with pytest.raises(Invalid):
        edit(db, other, world.volunteer, project_id=project.id)


def test_project_dates_bound_actions(db: Database, world: World) -> None:
    project = make_project(db, world.association, starts_on=days_ago(5), ends_on=days_ago(2))
    for day in (days_ago(6), days_ago(1)):
        with pytest.raises(Invalid) as raised:
            record(db, world, project_id=project.id, date=day)
        assert "project_id" in raised.value.errors
    assert record(db, world, project_id=project.id, date=days_ago(3)).project_id == project.id


def test_edit_changes_fields_and_logs_the_difference(db: Database, world: World) -> None:
    action = record(db, world, date=days_ago(40))
    changed = edit(
        db, action, world.volunteer, minutes=75, date=days_ago(1).isoformat(), title="<b>x</b>"
    )
    assert changed.minutes == 75 and changed.title == "<b>x</b>"
    assert changed.updated_by_id == world.volunteer.id
    trail = events(db, action.id)
    assert [event.kind for event in trail] == ["create", "edit"]
    assert trail[1].changes["minutes"] == [60, 75]
    assert trail[1].changes["date"] == [days_ago(40).isoformat(), days_ago(1).isoformat()]
    assert_rollups_exact(db, world.association.id or 0)


def test_a_refused_edit_writes_nothing(db: Database, world: World) -> None:
    action = record(db, world)
    with pytest.raises(Invalid):
        edit(db, action, world.volunteer, minutes=30, date="2999-01-01")
    found = reload(db, action.id)
    assert found is not None and found.minutes == 60
    assert len(events(db, action.id)) == 1
    assert_rollups_exact(db, world.association.id or 0)


def test_only_the_author_or_an_editing_manager_may_change(db: Database, world: World) -> None:
    action = record(db, world)
    for user in (world.other, world.viewer):
        with pytest.raises(Forbidden):
            edit(db, action, user, minutes=10)
        with db.write() as session, pytest.raises(Forbidden):
            actions.delete_action(session, action=session.get(Action, action.id), user=user)
    assert edit(db, action, world.manager, minutes=10).minutes == 10
    assert edit(db, action, world.owner, minutes=11).minutes == 11


def test_validation_locks_the_action_for_its_volunteer(db: Database) -> None:
    world = make_world(db, requires_validation=True)
    action = record(db, world)
    assert edit(db, action, world.volunteer, minutes=20).status == "pending"
    with db.write() as session:
        actions.validate_actions(
            session, association=world.association, user=world.manager, ids=[action.id]
        )
    with pytest.raises(Forbidden):
        edit(db, action, world.volunteer, minutes=30)
    with db.write() as session, pytest.raises(Forbidden):
        actions.delete_action(session, action=session.get(Action, action.id), user=world.volunteer)
    corrected = edit(db, action, world.manager, minutes=45)
    assert corrected.status == "validated" and corrected.minutes == 45
    assert_rollups_exact(db, world.association.id or 0)


def test_a_refused_action_edited_by_its_volunteer_goes_back_to_validation(db: Database) -> None:
    world = make_world(db, requires_validation=True)
    action = record(db, world)
    with db.write() as session:
        refused = actions.refuse_actions(
            session,
            association=world.association,
            user=world.manager,
            ids=[action.id],
            reason="Trop long",
        )
    assert refused[0].status == "refused" and refused[0].refusal_reason == "Trop long"
    again = edit(db, action, world.volunteer, minutes=30)
    assert again.status == "pending" and again.refusal_reason == ""
    assert_rollups_exact(db, world.association.id or 0)


def test_without_validation_a_volunteer_edits_and_deletes_freely(
    db: Database, world: World
) -> None:
    action = record(db, world)
    assert edit(db, action, world.volunteer, minutes=5).minutes == 5
    with db.write() as session:
        actions.delete_action(session, action=session.get(Action, action.id), user=world.volunteer)
    assert reload(db, action.id) is None
    assert [event.kind for event in events(db, action.id)] == ["create", "edit", "delete"]
    assert_rollups_exact(db, world.association.id or 0)


def test_a_manager_records_for_a_volunteer(db: Database, world: World) -> None:
    action = record(db, world, user=world.manager, volunteer_id=world.member.id)
    assert action.membership_id == world.member.id
    assert action.created_by_id == world.manager.id
    with pytest.raises(Forbidden):
        record(db, world, user=world.other, volunteer_id=world.member.id)
    with pytest.raises(Forbidden):
        record(db, world, user=world.viewer, volunteer_id=world.member.id)
    elsewhere = make_world(db)
    left = make_membership(db, world.association, quick_user(db), status="left")
    for volunteer_id in (elsewhere.member.id, left.id, 999_999):
        with pytest.raises(Invalid) as raised:
            record(db, world, user=world.manager, volunteer_id=volunteer_id)
        assert "volunteer_id" in raised.value.errors


def test_a_manager_moves_an_action_to_another_volunteer(db: Database, world: World) -> None:
    action = record(db, world)
    with pytest.raises(Forbidden):
        edit(db, action, world.volunteer, volunteer_id=world.other_member.id)
    moved = edit(db, action, world.manager, volunteer_id=world.other_member.id)
    assert moved.membership_id == world.other_member.id
    assert_rollups_exact(db, world.association.id or 0)


def group(db: Database, world: World, user: Any, ids: Any, **fields: Any) -> list[Action]:
    data = {"minutes": 120, "category_id": world.category.id, **fields}
    with db.write() as session:
        return actions.create_group_actions(
            session,
            association=world.association,
            user=user,
            data=data,
            volunteer_ids=ids,
            today=today(),
        )


def test_a_group_action_makes_one_row_per_volunteer(db: Database, world: World) -> None:
    ids = [world.member.id, world.other_member.id, world.manager_member.id]
    made = group(db, world, world.manager, ids, title="AG")
    assert [action.membership_id for action in made] == ids
    assert {action.source for action in made} == {"group"}
    assert_rollups_exact(db, world.association.id or 0)


@pytest.mark.parametrize("ids", [[], "1", [True], ["1"], None])
def test_bad_groups_are_refused(db: Database, world: World, ids: Any) -> None:
    with pytest.raises(Invalid) as raised:
        group(db, world, world.manager, ids)
    assert "volunteer_ids" in raised.value.errors


def test_group_rules(db: Database, world: World) -> None:
    with pytest.raises(Invalid):
        group(db, world, world.manager, [world.member.id, world.member.id])
    with pytest.raises(Invalid):
        group(db, world, world.manager, [world.member.id, 999_999])
    with pytest.raises(Invalid):
        group(db, world, world.manager, list(range(1, 202)))
    with pytest.raises(Forbidden):
        group(db, world, world.volunteer, [world.member.id, world.other_member.id])
    assert len(group(db, world, world.volunteer, [world.member.id])) == 1
    with db.read() as session:
        assert len(session.exec(select(Action)).all()) == 1


def test_who_may_record(db: Database, world: World) -> None:
    stranger = quick_user(db)
    pending = quick_user(db)
    make_membership(db, world.association, pending, status="pending")
    for user in (stranger, pending):
        with pytest.raises(Forbidden):
            record(db, world, user=user)
    admin = quick_user(db, is_admin=True)
    with pytest.raises(Invalid) as raised:
        record(db, world, user=admin)
    assert "volunteer_id" in raised.value.errors
    set_rules(db, world.association, is_suspended=True)
    with pytest.raises(Forbidden):
        record(db, world)


def test_an_access_link_member_records_without_an_account(db: Database, world: World) -> None:
    link = make_membership(db, world.association, None, label="Camille")
    with db.write() as session:
        action = actions.create_action(
            session,
            association=world.association,
            user=None,
            membership=session.get(Membership, link.id),
            data={"minutes": 30, "category_id": world.category.id},
            today=today(),
            source="access_link",
        )
    assert action.membership_id == link.id and action.created_by_id is None


def test_bulk_validation_and_refusal(db: Database) -> None:
    world = make_world(db, requires_validation=True)
    first, second, third = (record(db, world) for _ in range(3))
    assert len(decide(db, world, world.manager, "validate", [first.id, second.id])) == 2
    assert decide(db, world, world.manager, "validate", [first.id]) == []
    refused = decide(db, world, world.owner, "refuse", [third.id, second.id], reason=" Doublon ")
    assert {action.refusal_reason for action in refused} == {"Doublon"}
    statuses = {a.id: a.status for a in (reload(db, i) for i in (first.id, second.id, third.id))}  # type: ignore[union-attr]
    assert statuses == {first.id: "validated", second.id: "refused", third.id: "refused"}
    assert [e.kind for e in events(db, second.id)] == ["create", "validate", "refuse"]
    assert_rollups_exact(db, world.association.id or 0)


def test_bulk_decisions_refuse_bad_input(db: Database) -> None:
    world = make_world(db, requires_validation=True)
    action = record(db, world)
    elsewhere = make_world(db)
    foreign = record(db, elsewhere)
    for user in (world.volunteer, world.viewer):
        with pytest.raises(Forbidden):
            decide(db, world, user, "validate", [action.id])
    for ids in ([], None, ["1"], [foreign.id], [action.id, 999_999]):
        with pytest.raises(Invalid) as raised:
            decide(db, world, world.manager, "validate", ids)
        assert "ids" in raised.value.errors
    for reason in ("", "   ", None, 12, "x" * 1001):
        with pytest.raises(Invalid) as raised:
            decide(db, world, world.manager, "refuse", [action.id], reason=reason)
        assert "reason" in raised.value.errors
    found = reload(db, action.id)
    assert found is not None and found.status == "pending"


def test_history_is_for_managers_and_survives_deletion(db: Database, world: World) -> None:
    action = record(db, world)
    with db.read() as session:
        assert len(actions.history(session, action_id=action.id, user=world.viewer)) == 1
        with pytest.raises(Forbidden):
            actions.history(session, action_id=action.id, user=world.volunteer)
        with pytest.raises(NotFound):
            actions.history(session, action_id=action.id, user=world.other)
        with pytest.raises(NotFound):
            actions.history(session, action_id=999_999, user=world.owner)
    with db.write() as session:
        actions.delete_action(session, action=session.get(Action, action.id), user=world.manager)
    with db.read() as session:
        trail = actions.history(session, action_id=action.id, user=world.owner)
    assert [event.kind for event in trail] == ["create", "delete"]
    assert trail[1].user_id == world.manager.id


def listing(db: Database, world: World, user: Any, **kwargs: Any) -> actions.ActionPage:
    with db.read() as session:
        return actions.list_actions(session, association=world.association, user=user, **kwargs)


def test_volunteers_list_their_own_and_managers_all(db: Database, world: World) -> None:
    mine = [record(db, world, date=days_ago(i)) for i in range(3)]
    theirs = record(db, world, user=world.other)
    assert [a.id for a in listing(db, world, world.volunteer).items] == [a.id for a in mine]
    assert len(listing(db, world, world.viewer).items) == 4
    filtered = listing(
        db, world, world.viewer, filters=actions.ActionFilters(volunteer_id=world.other_member.id)
    )
    assert [a.id for a in filtered.items] == [theirs.id]
    with pytest.raises(Forbidden):
        listing(db, world, quick_user(db))


def test_cursor_pagination_walks_every_action_once(db: Database, world: World) -> None:
    made = {record(db, world, date=days_ago(i % 3)).id for i in range(7)}
    seen: list[int] = []
    cursor = None
    while True:
        page = listing(db, world, world.volunteer, cursor=cursor, limit=3)
        seen.extend(a.id for a in page.items if a.id is not None)
        cursor = page.next
        if cursor is None:
            break
    assert sorted(seen) == sorted(made) and len(seen) == 7
    with pytest.raises(Invalid) as raised:
        listing(db, world, world.volunteer, cursor="%%%")
    assert "cursor" in raised.value.errors


def test_filters_are_read_and_checked() -> None:
    found = actions.read_filters(
        {"volunteer": "3", "from": "2024-01-01", "to": "2024-12-31", "status": "pending"}
    )
    assert found.volunteer_id == 3 and found.start == date(2024, 1, 1)
    with pytest.raises(Invalid) as raised:
        actions.read_filters({"volunteer": "x", "from": "hier", "status": "done", "level": "-1"})
    assert set(raised.value.errors) == {"volunteer", "from", "status", "level"}


def test_deleting_a_membership_s_actions_keeps_rollups_exact(db: Database, world: World) -> None:
    record(db, world)
    record(db, world, user=world.other)
    with db.write() as session:
        member = session.get(Membership, world.member.id)
        assert actions.delete_membership_actions(session, membership=member) == 1
    assert_rollups_exact(db, world.association.id or 0)


def test_find_action_hides_what_the_caller_may_not_see(db: Database, world: World) -> None:
    action = record(db, world)
    hidden = make_association(db, quick_user(db), is_hidden=True)
    assert hidden.id is not None
    with db.read() as session:
        assert (
            actions.find_action(session, action_id=action.id, user=world.viewer)[0].id == action.id
        )
        for user in (world.other, quick_user(db)):
            with pytest.raises(NotFound):
                actions.find_action(session, action_id=action.id, user=user)
        for bad in ("1", None, True, 999_999):
            with pytest.raises(NotFound):
                actions.find_action(session, action_id=bad, user=world.owner)


def test_quick_durations_include_the_association_s_half_day(db: Database) -> None:
    world = make_world(db, half_day_minutes=210)
    assert [minutes for minutes, _label in action_rules.duration_choices(world.association)] == [
        30,
        60,
        120,
        210,
    ]
