"""Helpers shared by the action, taxonomy, rollup and summary tests (and their own checks)."""

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

from instance import actions, rollups, taxonomy
from instance.passwords import hash_password
from instance.periods import today as zone_today
from instance.secrets import new_token, token_hash
from schema.db import Database
from schema.tables import ApiToken, Association, Category, Level, Membership, User
from tests.factories import PASSWORD, make_association, make_membership

_numbers = count(1)


@dataclass
class World:
    """An association with an owner, a volunteer, managers and the default taxonomy."""

    association: Association
    owner: User
    volunteer: User
    member: Membership
    other: User
    other_member: Membership
    manager: User
    manager_member: Membership
    viewer: User
    viewer_member: Membership
    categories: list[Category]
    levels: list[Level]

    @property
    def category(self) -> Category:
        """The first live category."""
        return self.categories[0]


@cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


def quick_user(db: Database, **overrides: Any) -> User:
    """An account stored directly (one password hash shared by all: faster than make_user)."""
    number = next(_numbers)
    values: dict[str, Any] = {
        "username": f"benevole{number}",
        "email": f"benevole{number}@example.org",
        "password_hash": _password_hash(),
        "email_confirmed": True,
        "language": "en",
    }
    values.update(overrides)
    with db.write() as session:
        user = User(**values)
        session.add(user)
        session.flush()
        return user


def set_rules(db: Database, association: Association, **rules: Any) -> Association:
    """Change an association's action rules directly."""
    with db.write() as session:
        row = session.get(Association, association.id)
        assert row is not None
        for name, value in rules.items():
            setattr(row, name, value)
        session.add(row)
    for name, value in rules.items():
        setattr(association, name, value)
    return association


def make_world(db: Database, **rules: Any) -> World:
    """A fresh association with its defaults copied and one person per role."""
    owner = quick_user(db)
    association = make_association(db, owner)
    with db.write() as session:
        taxonomy.copy_instance_defaults(session, association=association)
        categories = taxonomy.list_entries(session, kind="category", association=association)
        levels = taxonomy.list_entries(session, kind="level", association=association)
    volunteer, other, manager, viewer = (quick_user(db) for _ in range(4))
    member = make_membership(db, association, volunteer)
    other_member = make_membership(db, association, other)
    manager_member = make_membership(
        db, association, manager, role="manager", perm_view_actions=True, perm_edit_actions=True
    )
    viewer_member = make_membership(db, association, viewer, role="manager", perm_view_actions=True)
    if rules:
        set_rules(db, association, **rules)
    return World(
        association,
        owner,
        volunteer,
        member,
        other,
        other_member,
        manager,
        manager_member,
        viewer,
        viewer_member,
        categories,
        levels,
    )


def decide(db: Database, world: World, user: Any, verb: str, ids: Any, **extra: Any) -> Any:
    """Validate or refuse actions through the domain."""
    with db.write() as session:
        function = actions.validate_actions if verb == "validate" else actions.refuse_actions
        return function(session, association=world.association, user=user, ids=ids, **extra)


def headers_for(db: Database, user: User) -> dict[str, str]:
    """Authorization headers with a fresh API token stored directly."""
    token = new_token()
    assert user.id is not None
    with db.write() as session:
        session.add(ApiToken(user_id=user.id, token_hash=token_hash(token), label="tests"))
    return {"Authorization": f"Bearer {token}"}


def today() -> date:
    """Today in the tests' instance time zone (the default, Europe/Paris)."""
    return zone_today(ZoneInfo("Europe/Paris"))


def record(db: Database, world: World, user: User | None = None, **fields: Any) -> Any:
    """Record an action through the domain (the volunteer's own by default)."""
    data: dict[str, Any] = {"minutes": 60, "category_id": world.category.id, **fields}
    if isinstance(data.get("date"), date):
        data["date"] = data["date"].isoformat()
    with db.write() as session:
        return actions.create_action(
            session,
            association=world.association,
            user=user or world.volunteer,
            data=data,
            today=today(),
        )


def assert_rollups_exact(db: Database, association_id: int) -> None:
    """Every rollup row equals a recount from the actions."""
    with db.read() as session:
        assert rollups.stored(session, association_id) == rollups.recount(session, association_id)


def days_ago(count: int) -> date:
    """A day in the past."""
    return today() - timedelta(days=count)


def test_world_has_default_taxonomy(db: Database) -> None:
    world = make_world(db)
    assert len(world.categories) == 12
    assert {level.name for level in world.levels} == {
        "Tâches courantes",
        "Tâches qualifiées",
        "Encadrement et expertise",
    }
    assert_rollups_exact(db, world.association.id or 0)
