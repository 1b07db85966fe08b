"""Rollups stay exact: random sequences of every kind of write, and concurrent writers.

After each sequence every rollup row (monthly and daily) must equal a recount
from the actions, sums over periods with partial months must equal the same sums
of the actions, and every action must carry the rate in force on its date. Runs on whatever database
the ``db`` fixture gives (a SQLite file in WAL mode, or PostgreSQL).
"""

import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from instance import actions, rollups, summaries, taxonomy
from instance.errors import DomainError, NotFound
from instance.periods import Period
from instance.summary_periods import (
    action_sums,
    edge_volunteer_hours,
    period_keys,
    period_months,
    period_volunteer_count,
)
from instance.summary_sums import add, rollup_volunteer_hours, split
from instance.valuation import rate_for
from schema.db import Database
from schema.tables import Action, Association, Category, Level, Membership, Project, User
from tests.factories import make_association, make_membership
from tests.test_actions_support import quick_user, today

DAYS = st.integers(min_value=0, max_value=100) | st.integers(min_value=0, max_value=420)
MINUTES = st.integers(min_value=0, max_value=600) | st.integers(min_value=1, max_value=90)
INDEX = st.integers(min_value=0, max_value=7)
OPTIONAL_INDEX = st.none() | INDEX

CREATE = st.fixed_dictionaries(
    {
        "op": st.just("create"),
        "member": INDEX,
        "days": DAYS,
        "minutes": MINUTES,
        "category": INDEX,
        "level": OPTIONAL_INDEX,
        "project": OPTIONAL_INDEX,
        "travel": st.none() | st.integers(0, 120),
        "distance": st.none() | st.decimals(0, 500, places=2).map(str),
    }
)
EDIT = st.fixed_dictionaries(
    {"op": st.just("edit"), "action": INDEX, "by_volunteer": st.booleans()},
    optional={
        "days": DAYS,
        "minutes": MINUTES,
        "category": INDEX,
        "level": OPTIONAL_INDEX,
        "project": OPTIONAL_INDEX,
        "travel": st.none() | st.integers(0, 120),
        "member": INDEX,
    },
)
MOVE = st.fixed_dictionaries(
    {"op": st.just("edit"), "action": INDEX, "by_volunteer": st.just(False), "days": DAYS}
)
SIMPLE = st.fixed_dictionaries(
    {"op": st.sampled_from(["validate", "refuse", "delete"]), "action": INDEX}
)
ARCHIVE = st.fixed_dictionaries(
    {"op": st.just("archive"), "kind": st.sampled_from(["category", "project"]), "entry": INDEX}
)
RATE = st.fixed_dictionaries(
    {
        "op": st.just("rate"),
        "level": INDEX,
        "days": st.integers(min_value=-30, max_value=100),
        "cents": st.integers(min_value=0, max_value=5000),
    }
)
FORGET = st.fixed_dictionaries({"op": st.just("forget"), "member": INDEX})
DEFAULT_RATE = st.fixed_dictionaries(
    {"op": st.just("default_rate"), "cents": st.none() | st.integers(0, 3000)}
)
OPERATIONS = st.lists(
    st.one_of(
        CREATE, CREATE, CREATE, CREATE, EDIT, EDIT, EDIT, SIMPLE, SIMPLE, ARCHIVE, RATE, FORGET
    ),
    min_size=8,
    max_size=30,
)
RULES = st.fixed_dictionaries(
    {
        "requires_validation": st.booleans(),
        "travel_time_policy": st.sampled_from(["none", "counted", "separate"]),
        "default_hourly_rate_cents": st.none() | st.integers(0, 3000),
    }
)


@dataclass
class Scene:
    """One association under test with its members and taxonomy."""

    db: Database
    association: Association
    owner: User
    members: list[Membership]
    categories: list[Category]
    projects: list[Project]
    levels: list[Level]

    def pick(self, items: list[Any], index: int | None) -> Any:
        return None if index is None or not items else items[index % len(items)]

    def action_ids(self) -> list[int]:
        with self.db.read() as session:
            query = select(Action.id).where(Action.association_id == self.association.id)
            return sorted(i for i in session.exec(query) if i is not None)


def build_scene(db: Database, rules: dict[str, Any]) -> Scene:
    owner = quick_user(db)
    association = make_association(db, owner)
    members = [make_membership(db, association, quick_user(db)) for _ in range(3)]
    members.append(make_membership(db, association, None, label="Sans compte"))
    with db.write() as session:
        row = session.get(Association, association.id)
        assert row is not None
        for name, value in rules.items():
            setattr(row, name, value)
        session.add(row)
        session.flush()
        taxonomy.copy_instance_defaults(session, association=row)
        categories = taxonomy.list_entries(session, kind="category", association=row)[:4]
        levels = taxonomy.list_entries(session, kind="level", association=row)[:2]
        projects = [
            taxonomy.create_entry(
                session, kind="project", association=row, values={"name": f"Projet {i}"}
            )
            for i in range(2)
        ]
        association = row
    return Scene(db, association, owner, members, categories, projects, levels)


def action_data(scene: Scene, step: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if "days" in step:
        data["date"] = (today() - timedelta(days=step["days"])).isoformat()
    if "minutes" in step:
        data["minutes"] = step["minutes"]
    if "category" in step:
        data["category_id"] = scene.pick(scene.categories, step["category"]).id
    for field, items in (("level", scene.levels), ("project", scene.projects)):
        if field in step:
            entry = scene.pick(items, step[field])
            data[f"{field}_id"] = entry.id if entry else None
    if step.get("travel") is not None:
        data["travel_minutes"] = step["travel"]
    if step.get("distance") is not None:
        data["distance_km"] = step["distance"]
    if "member" in step:
        data["volunteer_id"] = scene.pick(scene.members, step["member"]).id
    return data


def volunteer_of(session: Any, action: Action) -> tuple[User | None, Membership | None]:
    member = session.get(Membership, action.membership_id)
    user = session.get(User, member.user_id) if member and member.user_id else None
    return user, member


def run_step(scene: Scene, step: dict[str, Any]) -> None:
    ids = scene.action_ids()
    with scene.db.write() as session:
        association = session.get(Association, scene.association.id)
        owner = scene.owner
        op = step["op"]
        if op == "create":
            actions.create_action(
                session,
                association=association,
                user=owner,
                data=action_data(scene, step),
                today=today(),
            )
        elif op == "rate":
            level = session.get(Level, scene.pick(scene.levels, step["level"]).id)
            taxonomy.set_rate(
                session,
                level=level,
                effective_from=today() - timedelta(days=step["days"]),
                hourly_rate_cents=step["cents"],
            )
        elif op == "archive":
            items = scene.categories if step["kind"] == "category" else scene.projects
            entry = session.get(type(items[0]), scene.pick(items, step["entry"]).id)
            taxonomy.update_entry(session, entry=entry, values={"archived": True}, today=today())
        elif op == "default_rate":
            association.default_hourly_rate_cents = step["cents"]
            session.add(association)
            rollups.revalue_association(session, association=association)
        elif op == "forget":
            member = session.get(Membership, scene.pick(scene.members, step["member"]).id)
            if member.user_id is not None:
                session.delete(session.get(User, member.user_id))
                session.flush()
        elif ids:
            run_action_step(session, association, owner, scene, step, ids)


def run_action_step(
    session: Any, association: Association, owner: User, scene: Scene, step: dict, ids: list[int]
) -> None:
    action = session.get(Action, ids[step["action"] % len(ids)])
    if action is None:
        return  # deleted meanwhile by another writer
    op = step["op"]
    if op == "edit":
        user, member = (owner, None)
        if step["by_volunteer"]:
            user, member = volunteer_of(session, action)
        actions.update_action(
            session,
            action=action,
            user=user,
            membership=member,
            data=action_data(scene, step),
            today=today(),
        )
    elif op == "delete":
        actions.delete_action(session, action=action, user=owner)
    elif op == "validate":
        actions.validate_actions(session, association=association, user=owner, ids=[action.id])
    else:
        actions.refuse_actions(
            session, association=association, user=owner, ids=[action.id], reason="Non"
        )


#: Periods (days before today) whose partial months are read from the day rows.
RANGES = ((400, 45), (100, 3), (20, 10), (75, 75), (419, 0), (800, 0))


def assert_periods_exact(session: Any, association_id: int) -> None:
    """Sums over periods with partial months (day rows) equal the same sums of the actions."""
    since_last_year = (today() - today().replace(year=today().year - 1, month=1, day=1)).days
    for first, last in (*RANGES, (since_last_year, 0), (since_last_year, 3)):
        start, end = today() - timedelta(days=first), today() - timedelta(days=last)
        parts = split(Period(start, end))
        # The statistics page's sums (whole years from the year rows, several dimensions at once).
        overview, _edges = summaries._overview_keys(session, association_id, parts)
        for key in ("category", "project", "level", "volunteer"):
            found = period_keys(session, association_id, parts, key)
            expected = action_sums(session, association_id, start, end, key=key)
            assert rollups.prune(found) == rollups.prune(expected), (start, end, key)
            if key in overview:
                assert rollups.prune(overview[key]) == rollups.prune(expected), (start, end, key)
        months = period_months(session, association_id, parts, None)
        assert sum(row.get("minutes_counted", 0) for row in months.values()) == sum(
            row.get("minutes_counted", 0)
            for row in action_sums(session, association_id, start, end).values()
        )
        volunteers = action_sums(session, association_id, start, end, key="volunteer")
        distinct = sum(1 for row in volunteers.values() if row.get("actions_counted", 0) > 0)
        assert period_volunteer_count(session, association_id, parts) == distinct
        hours, _names = rollup_volunteer_hours(session, association_id, parts)  # year rows
        for start_day, end_day in parts.edges:
            for key, row in edge_volunteer_hours(
                session, association_id, start_day, end_day
            ).items():
                add(hours.setdefault(key, {}), row)
        assert {
            k: row["minutes_counted"] for k, row in hours.items() if row["actions_counted"]
        } == {
            k: row["minutes_counted"] for k, row in volunteers.items() if row.get("actions_counted")
        }


def assert_exact(db: Database, association_id: int) -> None:
    with db.read() as session:
        assert rollups.stored(session, association_id) == rollups.recount(session, association_id)
        assert_periods_exact(session, association_id)
        association = session.get(Association, association_id)
        for action in session.exec(select(Action).where(Action.association_id == association_id)):
            expected = rate_for(session, association, action.level_id, action.date)
            assert action.rate_cents == expected, (action, expected)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rules=RULES, steps=OPERATIONS)
def test_rollups_equal_a_recount_after_any_sequence(
    db: Database, rules: dict[str, Any], steps: list[dict[str, Any]]
) -> None:
    scene = build_scene(db, rules)
    for step in steps:
        try:
            run_step(scene, step)
        except DomainError:
            pass  # refused: nothing may be half-written
    assert scene.association.id is not None
    assert_exact(db, scene.association.id)


def test_moving_an_action_across_a_rate_change_revalues_it(db: Database) -> None:
    scene = build_scene(db, {})
    run_step(
        scene, {"op": "create", "member": 0, "days": 50, "minutes": 61, "category": 0, "level": 0}
    )
    run_step(scene, {"op": "rate", "level": 0, "days": 20, "cents": 2222})
    run_step(scene, {"op": "edit", "action": 0, "by_volunteer": False, "days": 10})
    assert scene.association.id is not None
    assert_exact(db, scene.association.id)
    with db.read() as session:
        assert session.exec(select(Action.rate_cents)).one() == 2222


def test_account_deletion_keeps_actions_and_rollups(db: Database) -> None:
    scene = build_scene(db, {"requires_validation": False})
    member = scene.members[0]
    run_step(scene, {"op": "create", "member": 0, "days": 3, "minutes": 60, "category": 0})
    run_step(scene, {"op": "forget", "member": 0})
    with db.read() as session:
        row = session.get(Membership, member.id)
        assert row is not None and row.user_id is None
        assert len(session.exec(select(Action)).all()) == 1
    assert scene.association.id is not None
    assert_exact(db, scene.association.id)


def test_concurrent_writers_keep_rollups_exact(db: Database) -> None:
    scene = build_scene(db, {"requires_validation": True, "travel_time_policy": "counted"})
    errors: list[Exception] = []
    gone: list[dict[str, Any]] = []

    def step_on_action(step: dict[str, Any]) -> None:
        """Run a step on an existing action; another writer may delete it first."""
        try:
            run_step(scene, step)
        except NotFound:
            gone.append(step)  # the action picked was deleted meanwhile: a fair race

    def writer(number: int) -> None:
        try:
            for i in range(25):
                step = {
                    "op": "create",
                    "member": number,
                    "days": (i * 13) % 90,
                    "minutes": 15 + i,
                    "category": i,
                    "level": i,
                    "travel": i % 3 * 10,
                }
                run_step(scene, step)
                if i % 5 == 4:
                    step_on_action({"op": "validate", "action": i})
                if i % 7 == 6:
                    step_on_action({"op": "edit", "action": i, "by_volunteer": False, "days": i})
                if i % 11 == 10:
                    step_on_action({"op": "delete", "action": number})
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    run_step(scene, {"op": "rate", "level": 0, "days": 30, "cents": 2222})
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert scene.association.id is not None
    assert_exact(db, scene.association.id)
    assert len(scene.action_ids()) > 80
    # Each of the 8 deletions races at most one step of each of the 3 other writers.
    assert len(gone) <= 24
